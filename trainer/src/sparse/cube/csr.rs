//! A CSR matrix on a CubeCL device and its product kernel's launch: the matrix is
//! uploaded once per graph (the first product on a device), not passed from the host
//! on every call.

use std::ops::Range;

use super::launch::{elementwise, upload_u32, vectors};
use burn::backend::ops::FloatTensorOps;
use burn::tensor::{Shape, TensorData};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::kernels;
use crate::sparse::Csr;

/// A [`Csr`] on a CubeCL device: its row offsets and columns as `u32`, its values.
#[derive(Debug, Clone)]
pub struct DeviceCsr {
    pub n_rows: usize,
    pub n_cols: usize,
    row_ptr: CubeTensor,
    cols: CubeTensor,
    vals: CubeTensor,
}

impl DeviceCsr {
    /// Uploads `csr` to `device`.
    ///
    /// # Panics
    /// If the matrix has 2³² entries or more (the kernel's offsets are `u32`).
    pub fn upload(csr: &Csr, device: &cubecl::Device) -> Self {
        let offsets: Vec<u32> = csr
            .row_ptr
            .iter()
            .map(|&o| u32::try_from(o).expect("csr: fewer than 2^32 entries"))
            .collect();
        let nnz = csr.cols.len();
        Self {
            n_rows: csr.n_rows,
            n_cols: csr.n_cols,
            row_ptr: upload_u32(&offsets, device),
            cols: upload_u32(&csr.cols, device),
            vals: CubeBackend::float_from_data(TensorData::new(csr.vals.clone(), [nnz]), device),
        }
    }

    /// The rows `rows` of `(A·x + add) / divisor` (`add` `[n_rows, d]`, whole), or of
    /// `A·x` without `add`: one kernel launch.
    ///
    /// # Panics
    /// If `x` is not `[n_cols, d]`, `add` not `[n_rows, d]`, or `rows` past the matrix.
    pub fn matmul_add(
        &self,
        x: CubeTensor,
        add: Option<CubeTensor>,
        divisor: f32,
        rows: Range<usize>,
    ) -> CubeTensor {
        let x = into_contiguous(x);
        let [n, d] = [x.meta.shape()[0], x.meta.shape()[1]];
        assert_eq!(
            n, self.n_cols,
            "spmm: x has {n} rows, the matrix {} columns",
            self.n_cols
        );
        assert!(rows.end <= self.n_rows, "spmm: rows past the matrix's");
        let with_add = add.is_some();
        let add = match add {
            Some(add) => {
                let add = into_contiguous(add);
                assert_eq!(
                    add.meta.shape().to_vec(),
                    [self.n_rows, d],
                    "spmm: add is not n_rows × d"
                );
                add
            }
            // Not read: any tensor binds the slot.
            None => x.clone(),
        };
        let n_out = rows.len();
        let client = x.client.clone();
        let out = empty_device_contiguous_dtype(
            client.clone(),
            x.device.clone(),
            Shape::new([n_out, d]),
            x.dtype,
        );
        if n_out == 0 || d == 0 {
            return out;
        }
        let (vector, units) = vectors(n_out, d);
        let (count, dim) = elementwise(&client, units);
        kernels::csr_matmul_add::launch(
            &client,
            count,
            dim,
            vector,
            x.into_tensor_arg(),
            self.row_ptr.clone().into_tensor_arg(),
            self.cols.clone().into_tensor_arg(),
            self.vals.clone().into_tensor_arg(),
            add.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            u32::try_from(units).expect("csr: units fit u32"),
            u32::try_from(d / vector).expect("csr: width fits u32"),
            u32::try_from(rows.start).expect("csr: rows fit u32"),
            divisor,
            with_add,
        );
        out
    }
}
