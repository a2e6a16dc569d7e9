//! What every launch of this module's kernels shares: the cube size, the launch size of
//! a one-unit-per-element kernel, the vector width of the row-wise ones, and host `u32`
//! lists uploaded as index tensors.

use burn::backend::ops::IntTensorOps;
use burn::tensor::TensorData;
use burn_cubecl::CubeBackend;
use burn_cubecl::tensor::CubeTensor;
use cubecl::{CubeCount, CubeDim, calculate_cube_count_elemwise};

/// Units per cube of the element-wise launches.
const CUBE_UNITS: u32 = 256;

/// The cube count and cube of a launch with one unit per each of `n` elements.
pub(super) fn elementwise(client: &cubecl::client::Client, n: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new_1d(CUBE_UNITS);
    (calculate_cube_count_elemwise(client, n, dim), dim)
}

/// The vector width of a row-wise kernel over `rows × d` tables and its number of
/// units: four columns a unit where `d` allows (vector loads of the gathered rows), else
/// one.
pub(super) fn vectors(rows: usize, d: usize) -> (usize, usize) {
    let vector = if d.is_multiple_of(4) { 4 } else { 1 };
    (vector, rows * d / vector)
}

/// A host `u32` list on `device` (an empty one as one unread element: a binding needs
/// a buffer; every kernel bounds its reads by another size).
pub(super) fn upload_u32(values: &[u32], device: &cubecl::Device) -> CubeTensor {
    let values = if values.is_empty() {
        vec![0]
    } else {
        values.to_vec()
    };
    let n = values.len();
    CubeBackend::int_from_data(TensorData::new(values, [n]), device)
}
