//! The one seam between the model's maths and the devices: which stages of the
//! forward and backward pass run as the fused operations of this module and which
//! as the dense reference in [`crate::model`], chosen once when the model is built
//! from what the device's backend implements.

use super::cube;

/// Which stages run fused on a device (the rest run the dense reference, which also
/// referees every fused operation in the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FusedStages {
    /// The CF backbone's graph products and LightGCN's readout ([`super::spmm`],
    /// [`super::lightgcn`]): flex and CubeCL (wgpu, CUDA).
    pub cf: bool,
    /// The compression (Eq. 1) as one operation reading the features in place
    /// ([`super::compress`]): flex (elsewhere burn's matmul is the fused form).
    pub compression: bool,
    /// The item graphs' mixed, normalised layers, every side modality at once (Eq. 2–4,
    /// [`super::item_graph`]): flex and CubeCL.
    pub item_graphs: bool,
    /// The batch's gathers with the BPR scores and the L2 sums ([`super::batch`]): flex
    /// and CubeCL.
    pub batch: bool,
    /// The batch's attention scores over gathered rows, for `--l2-on final`
    /// ([`super::attention_scores`]): flex.
    pub attention_scores: bool,
    /// The MP loss (Eq. 8, 10, [`super::mp_loss`]): flex and CubeCL.
    pub mp: bool,
}

impl FusedStages {
    /// Every stage through the dense reference.
    pub const REFERENCE: Self = Self {
        cf: false,
        compression: false,
        item_graphs: false,
        batch: false,
        attention_scores: false,
        mp: false,
    };

    /// Every stage fused.
    pub const ALL: Self = Self {
        cf: true,
        compression: true,
        item_graphs: true,
        batch: true,
        attention_scores: true,
        mp: true,
    };

    /// What `device`'s backend runs fused (plain or autodiff).
    pub fn for_device(device: &burn::tensor::Device) -> Self {
        if is_flex(device) {
            Self::ALL
        } else if cube::is_cube(device) {
            Self {
                cf: true,
                item_graphs: true,
                batch: true,
                mp: true,
                ..Self::REFERENCE
            }
        } else {
            Self::REFERENCE
        }
    }
}

/// Whether `device` is flex (plain or autodiff).
pub fn is_flex(device: &burn::tensor::Device) -> bool {
    matches!(
        device.as_dispatch().clone().inner(),
        burn::backend::DispatchDevice::Flex(_)
    )
}
