//! The MP loss (Eq. 8, 10) on a CubeCL device: the batch's distinct rows gathered from
//! the code table, decoded with burn's matmul, compared with their feature rows in one
//! launch that also writes the loss's gradient with respect to the decoded rows, and
//! summed; backward, two matmuls and the rows scattered back into a zeroed table.

use burn::backend::Scalar;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{Shape, TensorData};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::{empty_device_contiguous_dtype, zeros};
use burn_cubecl::tensor::CubeTensor;

use super::kernels;
use super::launch::{elementwise as launch_dims, upload_u32};
use crate::sparse::MpKernels;
use crate::sparse::mp::MpRows;
use crate::sparse::mp_loss::table_rows;

/// What the MP loss's backward reads: the decoded rows' codes and their gradient for
/// an upstream gradient of 1, where the codes sit in the table, and the decoder.
#[derive(Debug, Clone)]
pub struct DeviceMpState {
    code: CubeTensor,
    grad_decoded: CubeTensor,
    decoder: CubeTensor,
    table_rows: CubeTensor,
    table_shape: Shape,
}

impl MpKernels for CubeBackend {
    type State = DeviceMpState;

    fn mp_forward(
        table: FloatTensor<Self>,
        decoder: FloatTensor<Self>,
        target: &FloatTensor<Self>,
        rows: &MpRows,
        first_row: usize,
        with_grad: bool,
    ) -> (FloatTensor<Self>, Option<DeviceMpState>) {
        let table = into_contiguous(table);
        let target = into_contiguous(target.clone());
        let (device, client, dtype) = (table.device.clone(), table.client.clone(), table.dtype);
        let [n_rows, d] = [table.meta.shape()[0], table.meta.shape()[1]];
        let dm = decoder.meta.shape()[1];
        let n = rows.ids.len();
        if n == 0 || dm == 0 {
            let loss = zeros(device.clone(), Shape::new([1]), dtype);
            let state = with_grad.then(|| DeviceMpState {
                code: zeros(device.clone(), Shape::new([1, d.max(1)]), dtype),
                grad_decoded: zeros(device.clone(), Shape::new([1, dm.max(1)]), dtype),
                decoder: decoder.clone(),
                table_rows: upload_u32(&[0], &device),
                table_shape: table.meta.shape().clone(),
            });
            return (loss, state);
        }
        assert!(
            rows.ids
                .iter()
                .all(|&i| (i as usize) < target.meta.shape()[0])
                && table_rows(rows, first_row)
                    .iter()
                    .all(|&i| (i as usize) < n_rows),
            "mp: a row id past its table"
        );
        let table_rows = upload_u32(&table_rows(rows, first_row), &device);
        let target_rows = upload_u32(&rows.ids, &device);
        let weights =
            CubeBackend::float_from_data(TensorData::new(rows.weights.clone(), [n]), &device);
        let empty = |shape: [usize; 2]| {
            empty_device_contiguous_dtype(client.clone(), device.clone(), Shape::new(shape), dtype)
        };
        let code = empty([n, d]);
        let (count, dim) = launch_dims(&client, n * d);
        kernels::gather_rows::launch(
            &client,
            count,
            dim,
            table.into_tensor_arg(),
            table_rows.clone().into_tensor_arg(),
            code.clone().into_tensor_arg(),
        );
        let decoded = CubeBackend::float_matmul(code.clone(), decoder.clone());
        let decoded = into_contiguous(decoded);
        let (abs, grad) = (empty([n, dm]), empty([n, dm]));
        let scale = 1.0 / (rows.draws * dm) as f32;
        let (count, dim) = launch_dims(&client, n * dm);
        kernels::mp_compare::launch(
            &client,
            count,
            dim,
            decoded.into_tensor_arg(),
            target.into_tensor_arg(),
            target_rows.into_tensor_arg(),
            weights.into_tensor_arg(),
            abs.clone().into_tensor_arg(),
            grad.clone().into_tensor_arg(),
            scale,
            with_grad,
        );
        let sum = CubeBackend::float_sum(abs);
        let loss = CubeBackend::float_mul_scalar(sum, Scalar::new(scale, &dtype));
        let state = with_grad.then(|| DeviceMpState {
            code,
            grad_decoded: grad,
            decoder,
            table_rows,
            table_shape: Shape::new([n_rows, d]),
        });
        (loss, state)
    }

    fn mp_backward(
        g: FloatTensor<Self>,
        s: DeviceMpState,
        want_table: bool,
        want_decoder: bool,
    ) -> (Option<FloatTensor<Self>>, Option<FloatTensor<Self>>) {
        let client = s.code.client.clone();
        let g = into_contiguous(g);
        // G·g: the gradient of the decoded rows for the upstream gradient.
        let n_elems = s.grad_decoded.meta.shape().iter().product::<usize>();
        let grad = empty_device_contiguous_dtype(
            client.clone(),
            s.code.device.clone(),
            s.grad_decoded.meta.shape().clone(),
            s.code.dtype,
        );
        let (count, dim) = launch_dims(&client, n_elems);
        kernels::scaled_by::launch(
            &client,
            count,
            dim,
            s.grad_decoded.into_tensor_arg(),
            g.into_tensor_arg(),
            grad.clone().into_tensor_arg(),
        );
        let table = want_table.then(|| {
            // ∂code = G·W̃ᵀ, scattered into the table's rows.
            let decoder_t = CubeBackend::float_transpose(s.decoder.clone());
            let grad_code = into_contiguous(CubeBackend::float_matmul(grad.clone(), decoder_t));
            let out = zeros(s.code.device.clone(), s.table_shape.clone(), s.code.dtype);
            let n = grad_code.meta.shape().iter().product::<usize>();
            let (count, dim) = launch_dims(&client, n);
            kernels::scatter_rows::launch(
                &client,
                count,
                dim,
                grad_code.into_tensor_arg(),
                s.table_rows.clone().into_tensor_arg(),
                out.clone().into_tensor_arg(),
            );
            out
        });
        let decoder = want_decoder.then(|| {
            // ∂W̃ = codeᵀ·G, in the decoder's own layout.
            let code_t = CubeBackend::float_transpose(s.code.clone());
            into_contiguous(CubeBackend::float_matmul(code_t, grad.clone()))
        });
        (table, decoder)
    }
}
