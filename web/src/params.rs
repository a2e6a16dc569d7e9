//! URL parameters of the page (a stable contract for links and browser tests):
//!
//! | parameter | meaning | default |
//! |---|---|---|
//! | `weights` | URL of the weights file, relative to the page | `demo/model.safetensors` |
//! | `user` | user id to show first | `0` |
//! | `n` | length of the top-N list (10, 20, 50 in the selector; 1–200 accepted) | `20` |
//! | `backend` | `cpu` or `webgpu` (anything else: automatic) | automatic |
//! | `bench` | `1`: benchmark mode (also the page `bench.html`) | off |
//! | `chunk` | items per GPU table chunk, to exercise the chunked upload path (diagnostics) | from adapter limits |
//! | `item` | the item whose why panel is open | none |
//! | `mode`, `liked` | `mode=new&liked=1,2,3`: "be a new user" with these likes | explore |
//! | `drop` | modalities dropped from the list's attention (`drop=visual,textual`) | none |
//! | `compare` | a second weights file to compare with | none |
//! | `map` | the item map's space: a stored map's modality or `personal` | the first stored map |
//! | `mapcolor` | the item map's colouring: `category` or `dominant` (modality) | `category` |

/// The default weights URL (what `cargo xtask demo` writes).
pub const DEFAULT_WEIGHTS: &str = "demo/model.safetensors";
/// The choices in the top-N selector.
pub const N_CHOICES: [usize; 3] = [10, 20, 50];
/// Default top-N length.
pub const DEFAULT_N: usize = 20;
/// Largest accepted `n`.
pub const MAX_N: usize = 200;

/// Which scoring backend the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendPref {
    /// WebGPU when available, else CPU.
    #[default]
    Auto,
    Cpu,
    WebGpu,
}

impl BackendPref {
    pub fn as_param(self) -> Option<&'static str> {
        match self {
            BackendPref::Auto => None,
            BackendPref::Cpu => Some("cpu"),
            BackendPref::WebGpu => Some("webgpu"),
        }
    }
}

/// The parsed query string.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlParams {
    pub weights: String,
    pub user: Option<usize>,
    pub n: usize,
    pub backend: BackendPref,
    pub bench: bool,
    pub chunk_items: Option<usize>,
    /// The item whose why panel is open.
    pub item: Option<u32>,
    /// "Be a new user" with these liked items (`mode=new&liked=1,2,3`).
    pub new_user: bool,
    pub liked: Vec<u32>,
    /// Modalities dropped from the list's attention, by name (`drop=visual,textual`).
    pub drop: Vec<String>,
    /// A second weights file to compare with (`compare=URL`).
    pub compare: Option<String>,
    /// The item map's space (`map=visual`, `map=personal`).
    pub map: Option<String>,
    /// The item map's colouring (`mapcolor=dominant`; default by category).
    pub map_color: Option<String>,
}

impl Default for UrlParams {
    fn default() -> Self {
        Self {
            weights: DEFAULT_WEIGHTS.to_string(),
            user: None,
            n: DEFAULT_N,
            backend: BackendPref::Auto,
            bench: false,
            chunk_items: None,
            item: None,
            new_user: false,
            liked: Vec::new(),
            drop: Vec::new(),
            compare: None,
            map: None,
            map_color: None,
        }
    }
}

/// A comma-separated list, empty entries skipped.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte);
/// malformed escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    // `+` first, so that an escaped `%2B` stays a plus.
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Every byte but the unreserved characters (letters, digits, `-_.~`) and `/` `:`,
/// which stay readable in a shared link.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/')
    .remove(b':');

/// Encodes a query value (unreserved characters, `/` and `:` are kept).
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Parses a query string (with or without the leading `?`). Unknown keys are ignored,
/// bad values fall back to the defaults.
pub fn parse_query(query: &str) -> UrlParams {
    let mut p = UrlParams::default();
    for pair in query
        .trim_start_matches('?')
        .split('&')
        .filter(|s| !s.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        let value = value.trim();
        match percent_decode(key).as_str() {
            "weights" if !value.is_empty() => p.weights = value.to_string(),
            "user" => p.user = value.parse().ok(),
            "n" => {
                if let Ok(n) = value.parse::<usize>()
                    && (1..=MAX_N).contains(&n)
                {
                    p.n = n;
                }
            }
            "backend" => {
                p.backend = match value.to_ascii_lowercase().as_str() {
                    "cpu" => BackendPref::Cpu,
                    "webgpu" | "gpu" => BackendPref::WebGpu,
                    _ => BackendPref::Auto,
                }
            }
            "bench" => p.bench = matches!(value, "" | "1" | "true" | "yes"),
            "chunk" => p.chunk_items = value.parse().ok().filter(|&c: &usize| c > 0),
            "item" => p.item = value.parse().ok(),
            "mode" => p.new_user = value == "new",
            "liked" => p.liked = list(value).filter_map(|v| v.parse().ok()).collect(),
            "drop" => p.drop = list(value).map(str::to_string).collect(),
            "compare" if !value.is_empty() => p.compare = Some(value.to_string()),
            "map" if !value.is_empty() => p.map = Some(value.to_string()),
            "mapcolor" if !value.is_empty() => p.map_color = Some(value.to_string()),
            _ => {}
        }
    }
    p
}

impl UrlParams {
    /// The query string that reproduces this state (defaults are left out), with the
    /// current user; `weights` is kept only when it is a URL (not a local file).
    pub fn to_query(&self, user: Option<usize>, weights_is_url: bool) -> String {
        let mut parts = Vec::new();
        if weights_is_url && self.weights != DEFAULT_WEIGHTS {
            parts.push(format!("weights={}", percent_encode(&self.weights)));
        }
        if let Some(u) = user {
            parts.push(format!("user={u}"));
        }
        if self.n != DEFAULT_N {
            parts.push(format!("n={}", self.n));
        }
        if let Some(b) = self.backend.as_param() {
            parts.push(format!("backend={b}"));
        }
        if self.bench {
            parts.push("bench=1".to_string());
        }
        if let Some(c) = self.chunk_items {
            parts.push(format!("chunk={c}"));
        }
        if self.new_user {
            parts.push("mode=new".to_string());
            if !self.liked.is_empty() {
                let liked: Vec<String> = self.liked.iter().map(|i| i.to_string()).collect();
                parts.push(format!("liked={}", liked.join(",")));
            }
        }
        if let Some(i) = self.item {
            parts.push(format!("item={i}"));
        }
        if let Some(c) = &self.compare {
            parts.push(format!("compare={}", percent_encode(c)));
        }
        if !self.drop.is_empty() {
            let names: Vec<String> = self.drop.iter().map(|d| percent_encode(d)).collect();
            parts.push(format!("drop={}", names.join(",")));
        }
        if let Some(m) = &self.map {
            parts.push(format!("map={}", percent_encode(m)));
        }
        if let Some(c) = &self.map_color {
            parts.push(format!("mapcolor={}", percent_encode(c)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_parameter() {
        assert_eq!(parse_query(""), UrlParams::default());
        assert_eq!(parse_query("?"), UrlParams::default());
        let p = parse_query(
            "?weights=runs%2Fbaby%20f16.safetensors&user=42&n=50&backend=webgpu&bench=1&chunk=1000",
        );
        assert_eq!(p.weights, "runs/baby f16.safetensors");
        assert_eq!(p.user, Some(42));
        assert_eq!(p.n, 50);
        assert_eq!(p.backend, BackendPref::WebGpu);
        assert!(p.bench);
        assert_eq!(p.chunk_items, Some(1000));
        assert_eq!(parse_query("backend=CPU").backend, BackendPref::Cpu);
    }

    #[test]
    fn bad_values_fall_back() {
        let p = parse_query("?user=-3&n=0&backend=tpu&weights=&chunk=0&zzz=1&n");
        assert_eq!(p.user, None);
        assert_eq!(p.n, DEFAULT_N);
        assert_eq!(p.backend, BackendPref::Auto);
        assert_eq!(p.weights, DEFAULT_WEIGHTS);
        assert_eq!(p.chunk_items, None);
        assert_eq!(parse_query("n=100000").n, DEFAULT_N);
        assert_eq!(parse_query("n=7").n, 7);
    }

    /// The view a link restores: selected item, new-user likes, dropped modalities.
    #[test]
    fn view_state_round_trips() {
        let p = parse_query(
            "?user=3&item=17&drop=visual,textual&compare=runs%2Fmu0.safetensors&map=textual&mapcolor=dominant",
        );
        assert_eq!(p.compare.as_deref(), Some("runs/mu0.safetensors"));
        assert_eq!(
            (p.map.as_deref(), p.map_color.as_deref()),
            (Some("textual"), Some("dominant"))
        );
        assert_eq!(
            (p.item, p.drop.clone()),
            (Some(17), vec!["visual".to_string(), "textual".to_string()])
        );
        assert_eq!(parse_query(&p.to_query(Some(3), true)), p);
        let q = parse_query("?mode=new&liked=5,9,,x,12&item=9");
        assert!(q.new_user);
        assert_eq!(q.liked, vec![5, 9, 12]);
        assert_eq!(q.to_query(None, true), "?mode=new&liked=5,9,12&item=9");
        assert_eq!(parse_query("?item=-1&mode=old").item, None);
        assert!(!parse_query("?mode=old").new_user);
    }

    #[test]
    fn percent_coding_round_trips() {
        assert_eq!(percent_decode("a+b%2Fc%zz%4"), "a b/c%zz%4");
        assert_eq!(percent_decode("%E2%9C%93"), "✓");
        assert_eq!(
            percent_decode("1%2B1+%3D+2"),
            "1+1 = 2",
            "an escaped plus stays a plus"
        );
        for s in ["demo/model.safetensors", "http://x/a b?c=d&e", "✓ ü"] {
            assert_eq!(percent_decode(&percent_encode(s)), s);
        }
    }

    #[test]
    fn query_round_trips() {
        let p = parse_query("?weights=x%20y.safetensors&n=10&backend=cpu");
        let q = p.to_query(Some(7), true);
        assert_eq!(q, "?weights=x%20y.safetensors&user=7&n=10&backend=cpu");
        let back = parse_query(&q);
        assert_eq!(back.weights, p.weights);
        assert_eq!(back.user, Some(7));
        assert_eq!(UrlParams::default().to_query(None, true), "");
        assert_eq!(p.to_query(None, false), "?n=10&backend=cpu");
    }
}
