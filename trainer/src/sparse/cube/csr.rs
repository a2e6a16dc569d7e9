//! A CSR matrix on a CubeCL device and its product kernel's launch: the matrix is
//! uploaded once per graph (the first product on a device), not passed from the host
//! on every call.

use std::ops::Range;

use burn::backend::ops::{FloatTensorOps, IntTensorOps};
use burn::tensor::{Shape, TensorData};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::{CubeDim, calculate_cube_count_elemwise};

use super::kernels;
use crate::sparse::Csr;

/// Units per cube of the element-wise launches.
pub(super) const CUBE_UNITS: u32 = 256;

/// The vector width of a row-wise kernel over `rows × d` tables and its number of
/// units: four columns a unit where `d` allows (vector loads of the gathered rows), else
/// one.
pub(super) fn vectors(rows: usize, d: usize) -> (usize, usize) {
    let vector = if d.is_multiple_of(4) { 4 } else { 1 };
    (vector, rows * d / vector)
}

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
        let n_offsets = offsets.len();
        let nnz = csr.cols.len();
        let int = |values: Vec<u32>, n: usize| {
            CubeBackend::int_from_data(TensorData::new(values, [n]), device)
        };
        Self {
            n_rows: csr.n_rows,
            n_cols: csr.n_cols,
            row_ptr: int(offsets, n_offsets),
            cols: int(csr.cols.clone(), nnz),
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
        let dim = CubeDim::new_1d(CUBE_UNITS);
        kernels::csr_matmul_add::launch(
            &client,
            calculate_cube_count_elemwise(&client, units, dim),
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
