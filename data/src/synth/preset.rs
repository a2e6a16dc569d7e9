//! The built-in sizes of the synthetic catalogue ([`Preset`]) and what a generation reports
//! ([`GeneratedSummary`]).

use super::*;

/// Built-in sizes of the synthetic catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// ≈ 2,000 users × 1,000 items × 25,000 interactions, 256 / 128 dims.
    Demo,
    /// Amazon Baby's Table-2 size: 19,445 × 7,050 × 160,792, 4096 / 1024 dims.
    Baby,
    /// Amazon Sports' size: 35,598 × 18,357 × 296,337, 4096 / 1024 dims.
    Sports,
    /// A dense catalogue of MovieLens-100k's shape (943 × 1,349 × 99,000, ≈ 79k
    /// training pairs, 384 / 256 dims): the shape of the real-data speed comparison.
    Dense,
}

impl Preset {
    /// All presets.
    pub const ALL: [Preset; 4] = [Preset::Demo, Preset::Baby, Preset::Sports, Preset::Dense];

    /// `demo`, `baby`, `sports` or `dense` (also the dataset name and `.inter` stem).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Demo => "demo",
            Preset::Baby => "baby",
            Preset::Sports => "sports",
            Preset::Dense => "dense",
        }
    }

    pub(super) fn config(self) -> Config {
        match self {
            Preset::Demo => Config {
                name: "demo",
                n_users: 2_000,
                n_items: 1_000,
                n_interactions: 25_000,
                dims: [256, 128],
                vocab: &vocab::HOME,
            },
            Preset::Baby => Config {
                name: "baby",
                n_users: 19_445,
                n_items: 7_050,
                n_interactions: 160_792,
                dims: [4096, 1024],
                vocab: &vocab::BABY,
            },
            Preset::Sports => Config {
                name: "sports",
                n_users: 35_598,
                n_items: 18_357,
                n_interactions: 296_337,
                dims: [4096, 1024],
                vocab: &vocab::SPORTS,
            },
            Preset::Dense => Config {
                name: "dense",
                n_users: 943,
                n_items: 1_349,
                n_interactions: 99_000,
                dims: [384, 256],
                vocab: &vocab::HOME,
            },
        }
    }
}

impl FromStr for Preset {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "demo" => Ok(Preset::Demo),
            "baby" => Ok(Preset::Baby),
            "sports" => Ok(Preset::Sports),
            "dense" => Ok(Preset::Dense),
            _ => Err(DataError::UnknownPreset(s.to_owned())),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedSummary {
    pub preset: Preset,
    pub seed: u64,
    /// Dataset name (`.inter` stem).
    pub name: String,
    /// Output directory.
    pub dir: PathBuf,
    pub n_users: usize,
    pub n_items: usize,
    pub n_interactions: usize,
    pub train: usize,
    pub valid: usize,
    pub test: usize,
    /// `(modality, dim)` of each feature file.
    pub dims: Vec<(String, usize)>,
    /// Items that could not be given any interaction (0 for the presets).
    pub items_without_interactions: usize,
    /// Every file written, in write order.
    pub files: Vec<PathBuf>,
}

impl fmt::Display for GeneratedSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (seed {}): {} users × {} items, {} interactions (train {} / valid {} / test {}), \
             features {} → {}",
            self.name,
            self.seed,
            self.n_users,
            self.n_items,
            self.n_interactions,
            self.train,
            self.valid,
            self.test,
            self.dims
                .iter()
                .map(|(n, d)| format!("{n} {d}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.dir.display()
        )
    }
}
