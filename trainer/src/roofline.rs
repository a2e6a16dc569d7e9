//! The floor under each measured stage: FLOPs and bytes of MARIO's training epoch,
//! full-ranking evaluation and learnt-kNN rebuild, computed from the shapes alone,
//! and the time they need at a given arithmetic rate and memory bandwidth
//! (`mario bench` measures both on the machine it runs on).
//!
//! Counted per training step (the forward pass covers all users and items, as in
//! LATTICE and MMRec; the backward of a product costs one product per input that
//! needs a gradient). The bytes are the compulsory traffic (f32): every table a pass
//! reads and writes, once, and its index — a gathered row that is read again is
//! taken to come from cache, so the floor stays a lower bound where the tables fit
//! in cache (at `demo` and `dense` shapes they do):
//!
//! | stage | FLOPs | bytes |
//! |---|---|---|
//! | compression `vᵐWᵐ`, forward + `∂Wᵐ` | `4·I·dₘ·d` | features twice: `8·I·dₘ` |
//! | learnt-graph cosines and the item GCN (L layers, fan 2k), per side modality | `6·I·k·d + 6·L·I·2k·d` | `3·(1 + L)` passes of `8·I·d + 8·I·2k` |
//! | CF propagation over `2·nnz` directed edges, `L_cf` layers, `N = U + I` rows | `4·L_cf·2nnz·d` | `2·L_cf` passes of `8·N·d + 8·2nnz` |
//! | MP decoders on the batch's distinct items `n_u` | `6·n_u·d·dₘ` | `12·n_u·dₘ` |
//! | BPR scores over `M` scored tables and the L2 sums, batch `B` | `≈ 3·B·(8·M·d + 4·d) + 12·B·d` | `12·B·(1 + 2M)·d + 24·B·d` |
//! | Adam over all parameters `P` | `≈ 12·P` | `≈ 28·P` (param, grad, two moments; three written) |
//!
//! Evaluation: `2·U·I·M·d` FLOPs (the affinities), reading the item tables once per
//! user tile. kNN rebuild: `Σₘ (2·I·dₘ·d + 2·I²·d)` FLOPs.

/// The shapes that set the cost.
#[derive(Debug, Clone)]
pub struct Shapes {
    pub users: usize,
    pub items: usize,
    /// Training (user, item) pairs.
    pub nnz: usize,
    pub d: usize,
    /// Side-modality feature dims.
    pub side_dims: Vec<usize>,
    /// Scored modalities (side + interaction).
    pub scored: usize,
    pub knn_k: usize,
    pub item_layers: usize,
    pub cf_layers: usize,
    pub batch: usize,
    /// Trainable parameters.
    pub params: usize,
    /// Users evaluated in one split.
    pub eval_users: usize,
}

/// FLOPs and bytes of one stage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cost {
    pub flops: f64,
    pub bytes: f64,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            flops: self.flops + o.flops,
            bytes: self.bytes + o.bytes,
        }
    }
}

impl Cost {
    /// Seconds at `gflops` GFLOP/s and `gbs` GB/s, taking the slower of the two per stage.
    pub fn seconds(&self, gflops: f64, gbs: f64) -> f64 {
        (self.flops / (gflops * 1e9)).max(self.bytes / (gbs * 1e9))
    }
}

/// Expected distinct items among `draws` uniform draws from `items` (for the MP decoders).
pub fn expected_distinct(items: usize, draws: usize) -> f64 {
    let n = items as f64;
    n * (1.0 - (1.0 - 1.0 / n).powf(draws as f64))
}

impl Shapes {
    /// One training step, split by stage in [`crate::stage_clock::Stage::ALL`]'s order:
    /// compression, item graphs, CF, MP, BPR + L2, Adam.
    pub fn step(&self) -> [Cost; 6] {
        let (i, d) = (self.items as f64, self.d as f64);
        let rows = (self.users + self.items) as f64;
        let dm: f64 = self.side_dims.iter().map(|&x| x as f64).sum();
        let m_side = self.side_dims.len() as f64;
        let k = self.knn_k as f64;
        let l = self.item_layers as f64;
        let edges = 2.0 * self.nnz as f64;
        let lcf = self.cf_layers as f64;
        let distinct = expected_distinct(self.items, 2 * self.batch);
        let p = self.params as f64;
        let (b, m) = (self.batch as f64, self.scored as f64);
        [
            Cost {
                flops: 4.0 * i * dm * d,
                bytes: 8.0 * i * dm,
            },
            Cost {
                flops: m_side * (6.0 * i * k * d + 6.0 * l * i * 2.0 * k * d),
                bytes: m_side * 3.0 * (1.0 + l) * (8.0 * i * d + 8.0 * i * 2.0 * k),
            },
            Cost {
                flops: 4.0 * lcf * edges * d,
                bytes: 2.0 * lcf * (8.0 * rows * d + 8.0 * edges),
            },
            Cost {
                flops: 6.0 * distinct * d * dm,
                bytes: 12.0 * distinct * dm,
            },
            // Per triple: the user's and two items' rows of every table read, each
            // item's M dots, softmax-weighted sum and final dot; the backward about
            // twice that and the rows' gradients written; the L2 sums read and
            // write the 3B ego rows.
            Cost {
                flops: 3.0 * b * (8.0 * m * d + 4.0 * d) + 12.0 * b * d,
                bytes: 12.0 * b * (1.0 + 2.0 * m) * d + 24.0 * b * d,
            },
            Cost {
                flops: 12.0 * p,
                bytes: 28.0 * p,
            },
        ]
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.nnz.div_ceil(self.batch.max(1))
    }

    /// Seconds of one epoch at the floor, per stage ([`Shapes::step`]'s order).
    pub fn epoch_stage_seconds(&self, gflops: f64, gbs: f64) -> [f64; 6] {
        let steps = self.steps_per_epoch() as f64;
        self.step().map(|c| c.seconds(gflops, gbs) * steps)
    }

    /// Seconds of one epoch at the floor.
    pub fn epoch_seconds(&self, gflops: f64, gbs: f64) -> f64 {
        self.epoch_stage_seconds(gflops, gbs).iter().sum()
    }

    /// One full-ranking evaluation of one split.
    pub fn eval(&self) -> Cost {
        let (u, i, d) = (self.eval_users as f64, self.items as f64, self.d as f64);
        let m = self.scored as f64;
        let tiles = (u / 32.0).ceil();
        Cost {
            flops: 2.0 * u * i * m * d,
            bytes: tiles * 4.0 * i * m * d + 4.0 * u * d,
        }
    }

    /// One rebuild of every learnt kNN graph.
    pub fn knn_rebuild(&self) -> Cost {
        let (i, d) = (self.items as f64, self.d as f64);
        self.side_dims
            .iter()
            .map(|&dm| Cost {
                flops: 2.0 * i * dm as f64 * d + 2.0 * i * i * d,
                bytes: 4.0 * i * dm as f64 + 4.0 * i * i,
            })
            .fold(Cost::default(), |a, b| a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_items_and_floors_follow_the_shapes() {
        // Few draws: nearly all distinct; many draws: nearly all items.
        assert!((expected_distinct(1_000_000, 10) - 10.0).abs() < 1e-3);
        assert!((expected_distinct(100, 100_000) - 100.0).abs() < 1e-6);
        let s = Shapes {
            users: 50,
            items: 100,
            nnz: 1000,
            d: 8,
            side_dims: vec![16],
            scored: 2,
            knn_k: 2,
            item_layers: 1,
            cf_layers: 2,
            batch: 100,
            params: 1000,
            eval_users: 10,
        };
        assert_eq!(s.steps_per_epoch(), 10);
        assert_eq!(s.step()[0].flops, 4.0 * 100.0 * 16.0 * 8.0);
        // CF: 2 layers, forward and backward, each reading and writing the 150 × 8
        // table once plus the 2000 directed edges' index and value.
        assert_eq!(s.step()[2].bytes, 4.0 * (8.0 * 150.0 * 8.0 + 8.0 * 2000.0));
        // The epoch is its stages' sum, each stage a step's cost times 10 steps.
        let stages = s.epoch_stage_seconds(1.0, 1.0);
        assert_eq!(stages[0], 10.0 * s.step()[0].seconds(1.0, 1.0));
        assert!((s.epoch_seconds(1.0, 1.0) - stages.iter().sum::<f64>()).abs() < 1e-15);
        assert_eq!(s.eval().flops, 2.0 * 10.0 * 100.0 * 2.0 * 8.0);
        // 2 GFLOP and 5 bytes: compute-bound at 1 GFLOP/s and 1 GB/s,
        // bandwidth-bound at 1 GFLOP/s and 1 byte/s.
        let c = Cost {
            flops: 2e9,
            bytes: 5.0,
        };
        assert_eq!(c.seconds(1.0, 1.0), 2.0);
        assert_eq!(c.seconds(1.0, 1e-9), 5.0);
    }
}
