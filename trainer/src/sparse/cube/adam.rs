//! Adam on a CubeCL device: one kernel launch per parameter tensor writes the new
//! parameter and both moments (burn's `Adam` is about a dozen launches, each a
//! parameter-sized tensor).

use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::kernels;
use super::launch::elementwise;
use crate::train::optimizer::AdamConstants;

/// One Adam step of `p` with gradient `g` and the moments `(m, v)` of the steps before
/// (`None` at step 1): the new `(p, m, v)`.
///
/// # Panics
/// If the tensors differ in shape.
pub fn adam_step(
    p: CubeTensor,
    g: CubeTensor,
    moments: Option<(CubeTensor, CubeTensor)>,
    step: AdamConstants,
) -> (CubeTensor, CubeTensor, CubeTensor) {
    let shape = p.meta.shape().clone();
    let (p, g) = (into_contiguous(p), into_contiguous(g));
    assert_eq!(
        g.meta.shape(),
        &shape,
        "adam: the gradient's shape is not the parameter's"
    );
    let first = moments.is_none();
    let (m, v) = match moments {
        Some((m, v)) => {
            assert_eq!(
                m.meta.shape(),
                &shape,
                "adam: the moment's shape is not the parameter's"
            );
            assert_eq!(
                v.meta.shape(),
                &shape,
                "adam: the moment's shape is not the parameter's"
            );
            (into_contiguous(m), into_contiguous(v))
        }
        // Not read at step 1: any tensor binds the slots.
        None => (g.clone(), g.clone()),
    };
    let client = p.client.clone();
    let empty =
        || empty_device_contiguous_dtype(client.clone(), p.device.clone(), shape.clone(), p.dtype);
    let (p_out, m_out, v_out) = (empty(), empty(), empty());
    let n = shape.iter().product::<usize>();
    if n == 0 {
        return (p_out, m_out, v_out);
    }
    let (count, dim) = elementwise(&client, n);
    kernels::adam_step::launch(
        &client,
        count,
        dim,
        p.into_tensor_arg(),
        g.into_tensor_arg(),
        m.into_tensor_arg(),
        v.into_tensor_arg(),
        p_out.clone().into_tensor_arg(),
        m_out.clone().into_tensor_arg(),
        v_out.clone().into_tensor_arg(),
        step.beta_1,
        step.beta_2,
        step.combined_factor,
        step.eps,
        step.lr,
        first,
    );
    (p_out, m_out, v_out)
}
