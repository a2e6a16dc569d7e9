//! The search space file of `mario tune`: which training settings vary and how, which stay
//! fixed, and how to search. Keys are those `mario train --print-config` prints.
//!
//! ```toml
//! [fixed]                      # every trial (optional)
//! epochs = 200
//!
//! [space]                      # what varies
//! lr = { log_uniform = [1e-4, 1e-2] }
//! knn_k = [5, 10, 20]          # a list: a grid axis (random search draws from it)
//! lambda = { uniform = [0.5, 1.0] }
//! item_layers = { int_uniform = [1, 3] }
//!
//! [search]                     # optional; flags override
//! method = "random"            # or "grid" (lists only: every combination)
//! trials = 16
//! halving = { min_epochs = 10, eta = 3 }   # eta = 1: no early kill
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;

/// How one setting varies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Domain {
    /// These values (a grid axis; random search draws one uniformly).
    List(Vec<toml::Value>),
    Uniform(f64, f64),
    /// Uniform in log space: for learning rates and regularisation.
    LogUniform(f64, f64),
    /// An integer in `[lo, hi]`, both included.
    IntUniform(i64, i64),
}

impl Domain {
    fn is_log(&self) -> bool {
        matches!(self, Domain::LogUniform(..))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Grid,
    #[default]
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Halving {
    /// Epochs of the first rung.
    pub min_epochs: usize,
    /// Keep the best 1/η at each rung (and multiply the budget by η).
    pub eta: usize,
}

impl Default for Halving {
    fn default() -> Self {
        Self {
            min_epochs: 10,
            eta: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Search {
    pub method: Method,
    pub trials: Option<usize>,
    pub halving: Option<Halving>,
}

/// A parsed, checked search space.
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    /// The base configuration: defaults < `[fixed]`.
    pub base: TrainConfig,
    pub params: BTreeMap<String, Domain>,
    pub search: Search,
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceFile {
    #[serde(default)]
    fixed: toml::Table,
    #[serde(default)]
    space: toml::Table,
    #[serde(default)]
    search: Search,
}

/// One trial's values, by key.
pub type Params = BTreeMap<String, toml::Value>;

/// The keys a space may name (the fields of `mario train --print-config`).
fn known_keys() -> Vec<String> {
    toml::Table::try_from(TrainConfig::default())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// `base` with `params` set, checked as `mario train` would check it.
pub fn apply(base: &TrainConfig, params: &Params) -> anyhow::Result<TrainConfig> {
    let mut table = toml::Table::try_from(base).context("configuration to TOML")?;
    for (k, v) in params {
        table.insert(k.clone(), v.clone());
    }
    let config: TrainConfig = table
        .try_into()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("{}", e.message()))?;
    config.validate()?;
    Ok(config)
}

fn pair_f64(key: &str, kind: &str, v: &toml::Value) -> anyhow::Result<(f64, f64)> {
    let num = |x: &toml::Value| x.as_float().or_else(|| x.as_integer().map(|i| i as f64));
    match v.as_array().map(|a| a.as_slice()) {
        Some([a, b]) => match (num(a), num(b)) {
            (Some(a), Some(b)) if a.is_finite() && b.is_finite() && a <= b => Ok((a, b)),
            _ => bail!("`{key} = {{ {kind} = [lo, hi] }}` needs two numbers with lo ≤ hi"),
        },
        _ => bail!("`{key} = {{ {kind} = [lo, hi] }}` needs a two-element list"),
    }
}

fn parse_domain(key: &str, v: &toml::Value) -> anyhow::Result<Domain> {
    match v {
        toml::Value::Array(values) if !values.is_empty() => Ok(Domain::List(values.clone())),
        toml::Value::Array(_) => bail!("`{key} = []` lists no value"),
        toml::Value::Table(t) if t.len() == 1 => {
            let (kind, range) = t.iter().next().expect("one entry");
            match kind.as_str() {
                "uniform" => pair_f64(key, kind, range).map(|(a, b)| Domain::Uniform(a, b)),
                "log_uniform" => {
                    let (a, b) = pair_f64(key, kind, range)?;
                    if a <= 0.0 {
                        bail!("`{key}`: log_uniform needs lo > 0, got {a}");
                    }
                    Ok(Domain::LogUniform(a, b))
                }
                "int_uniform" => {
                    let (a, b) = pair_f64(key, kind, range)?;
                    if a.fract() != 0.0 || b.fract() != 0.0 {
                        bail!("`{key}`: int_uniform needs whole numbers");
                    }
                    Ok(Domain::IntUniform(a as i64, b as i64))
                }
                other => bail!(
                    "`{key}`: unknown range kind `{other}`; use uniform, log_uniform or int_uniform"
                ),
            }
        }
        _ => bail!(
            "`{key}`: give a list (`[a, b, c]`) or a range (`{{ log_uniform = [lo, hi] }}`); \
             a single fixed value belongs in [fixed]"
        ),
    }
}

impl Space {
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read search space {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid search space {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: SpaceFile = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{}; the file has tables [fixed], [space] and [search]",
                e.message()
            )
        })?;
        let keys = known_keys();
        let unknown = |k: &str| -> anyhow::Result<()> {
            if keys.iter().any(|x| x == k) {
                Ok(())
            } else {
                bail!(
                    "unknown setting `{k}`; settings are those of `mario train --print-config`: {}",
                    keys.join(", ")
                )
            }
        };
        let mut fixed = Params::new();
        for (k, v) in &file.fixed {
            unknown(k)?;
            fixed.insert(k.clone(), v.clone());
        }
        let base = apply(&TrainConfig::default(), &fixed).context("[fixed]")?;
        let mut params = BTreeMap::new();
        for (k, v) in &file.space {
            unknown(k)?;
            if fixed.contains_key(k) {
                bail!("`{k}` is both in [fixed] and in [space]");
            }
            let domain = parse_domain(k, v)?;
            // Every list value and both ends of a range must make a valid configuration.
            let probes: Vec<toml::Value> = match &domain {
                Domain::List(values) => values.clone(),
                Domain::Uniform(a, b) | Domain::LogUniform(a, b) => {
                    vec![toml::Value::Float(*a), toml::Value::Float(*b)]
                }
                Domain::IntUniform(a, b) => {
                    vec![toml::Value::Integer(*a), toml::Value::Integer(*b)]
                }
            };
            for p in probes {
                let one = Params::from([(k.clone(), p.clone())]);
                apply(&base, &one).with_context(|| format!("[space] {k} = {p}"))?;
            }
            params.insert(k.clone(), domain);
        }
        if params.is_empty() {
            bail!("[space] names no setting to vary");
        }
        if file.search.method == Method::Grid
            && let Some((k, _)) = params.iter().find(|(_, d)| !matches!(d, Domain::List(_)))
        {
            bail!("grid search needs lists, but `{k}` is a range; use method = \"random\"");
        }
        Ok(Self {
            base,
            params,
            search: file.search,
        })
    }

    /// Whether `key` is searched on a log scale (for the report's axes).
    pub fn is_log(&self, key: &str) -> bool {
        self.params.get(key).is_some_and(Domain::is_log)
    }

    /// Every combination of the lists, in key order then value order.
    pub fn grid(&self) -> Vec<Params> {
        let mut out = vec![Params::new()];
        for (k, d) in &self.params {
            let Domain::List(values) = d else { continue };
            out = out
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut p = p.clone();
                        p.insert(k.clone(), v.clone());
                        p
                    })
                })
                .collect();
        }
        out
    }

    /// One random draw (lists uniformly, ranges as declared).
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Params {
        self.params
            .iter()
            .map(|(k, d)| {
                let v = match d {
                    Domain::List(values) => values[rng.random_range(0..values.len())].clone(),
                    Domain::Uniform(a, b) => toml::Value::Float(a + rng.random::<f64>() * (b - a)),
                    Domain::LogUniform(a, b) => {
                        let (la, lb) = (a.ln(), b.ln());
                        toml::Value::Float((la + rng.random::<f64>() * (lb - la)).exp())
                    }
                    Domain::IntUniform(a, b) => toml::Value::Integer(rng.random_range(*a..=*b)),
                };
                (k.clone(), v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    const SPACE: &str = r#"
        [fixed]
        epochs = 30
        [space]
        lr = { log_uniform = [1e-4, 1e-2] }
        knn_k = [5, 10]
        cf = ["lightgcn", "ngcf"]
        item_layers = { int_uniform = [1, 3] }
        [search]
        trials = 4
        halving = { min_epochs = 5, eta = 2 }
    "#;

    #[test]
    fn parses_fixed_space_and_search() {
        let s = Space::parse(SPACE).unwrap();
        assert_eq!(s.base.epochs, 30);
        assert_eq!(s.params.len(), 4);
        assert_eq!(s.search.trials, Some(4));
        assert_eq!(
            s.search.halving,
            Some(Halving {
                min_epochs: 5,
                eta: 2
            })
        );
        assert!(s.is_log("lr") && !s.is_log("knn_k"));
    }

    #[test]
    fn samples_stay_in_their_domains_and_make_valid_configs() {
        let s = Space::parse(SPACE).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let p = s.sample(&mut rng);
            let c = apply(&s.base, &p).unwrap();
            assert!((1e-4..=1e-2).contains(&c.lr), "{}", c.lr);
            assert!([5, 10].contains(&c.knn_k));
            assert!((1..=3).contains(&c.item_layers));
            assert_eq!(c.epochs, 30);
        }
    }

    #[test]
    fn grid_is_the_cartesian_product_of_lists() {
        let s = Space::parse(
            "[space]\nknn_k = [5, 10, 20]\nmu = [0.0, 1.0]\n[search]\nmethod = \"grid\"",
        )
        .unwrap();
        let g = s.grid();
        assert_eq!(g.len(), 6);
        let configs: Vec<(usize, f32)> = g
            .iter()
            .map(|p| apply(&s.base, p).map(|c| (c.knn_k, c.mu)).unwrap())
            .collect();
        assert_eq!(configs[0], (5, 0.0));
        assert_eq!(configs[5], (20, 1.0));
    }

    #[test]
    fn bad_spaces_name_the_key_and_the_fix() {
        let cases = [
            (
                "[space]\nlearning_rate = [1e-3]",
                "unknown setting `learning_rate`",
            ),
            ("[space]\nlr = 1e-3", "belongs in [fixed]"),
            ("[space]\nlambda = [0.5, 2.0]", "lambda"),
            ("[space]\nlr = { log_uniform = [0, 1e-2] }", "lo > 0"),
            ("[space]\nlr = { normal = [0, 1] }", "unknown range kind"),
            (
                "[space]\nlr = { uniform = [1e-3, 1e-2] }\n[search]\nmethod = \"grid\"",
                "grid search needs lists",
            ),
            (
                "[fixed]\nlr = 1e-3\n[space]\nlr = [1e-3]",
                "both in [fixed]",
            ),
            ("[spaces]\nlr = [1e-3]", "[fixed], [space] and [search]"),
            ("[fixed]\nepochs = 10", "names no setting"),
        ];
        for (text, needle) in cases {
            let err = format!("{:#}", Space::parse(text).unwrap_err());
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
