//! Small formatting helpers shared by the page and its tests.

/// Okabe–Ito colours (colour-blind safe), assigned to modalities by name where the name is
/// known and by position otherwise.
pub const OKABE_ITO: [&str; 7] = [
    "#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442",
];

/// The colour of a modality: `visual` orange, `textual` blue, `interaction` bluish green,
/// `acoustic` reddish purple; other names by their position among the remaining colours.
pub fn modality_color(name: &str, index: usize) -> &'static str {
    match name {
        "visual" | "image" | "v" => OKABE_ITO[0],
        "textual" | "text" | "t" => OKABE_ITO[1],
        "interaction" | "id" => OKABE_ITO[2],
        "acoustic" | "audio" | "a" => OKABE_ITO[3],
        _ => OKABE_ITO[(index + 4) % OKABE_ITO.len()],
    }
}

pub use mario_shared::format::thousands;

/// Human-readable byte count (`1.5 MB`, decimal units as browsers show downloads).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Milliseconds with a precision that suits their size.
pub fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// The `data-score` attribute: enough digits for a 1e-3 comparison at any magnitude.
pub fn score_attr(score: f32) -> String {
    format!("{score:.6}")
}

/// The `data-attention` attribute: a JSON object modality name → weight.
pub fn attention_json(modalities: &[String], weights: &[f32]) -> String {
    let fields: Vec<String> = modalities
        .iter()
        .zip(weights)
        .map(|(name, w)| {
            let key = serde_json::to_string(name).unwrap_or_else(|_| "\"?\"".to_string());
            format!("{key}:{w:.6}")
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// A metric value from the file's `metrics` JSON, e.g. (`test`, `recall@20`).
pub fn metric(metrics: &serde_json::Value, split: &str, key: &str) -> Option<f64> {
    metrics.get(split)?.get(key)?.as_f64()
}

/// The median of a non-empty sample (mean of the middle two for even lengths).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// Escapes text for XML/HTML content and attribute values.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(19_445_123), "19,445,123");
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1_500), "1.5 kB");
        assert_eq!(bytes(77_000_000), "77.0 MB");
        assert_eq!(bytes(123_000_000), "123 MB");
        assert_eq!(ms(1.23456), "1.23");
        assert_eq!(ms(12.3456), "12.3");
        assert_eq!(score_attr(1.0 / 3.0), "0.333333");
    }

    #[test]
    fn attention_json_parses_back() {
        let mods = vec![
            "visual".to_string(),
            "textual".to_string(),
            "inter\"action".to_string(),
        ];
        let json = attention_json(&mods, &[0.25, 0.5, 0.25]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["visual"].as_f64(), Some(0.25));
        assert_eq!(v["inter\"action"].as_f64(), Some(0.25));
        assert_eq!(v.as_object().unwrap().len(), 3);
    }

    #[test]
    fn median_and_metrics() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let m = serde_json::json!({"test": {"recall@20": 0.08}});
        assert_eq!(metric(&m, "test", "recall@20"), Some(0.08));
        assert_eq!(metric(&m, "valid", "recall@20"), None);
    }

    #[test]
    fn colours_are_distinct_for_the_usual_modalities() {
        let c: Vec<&str> = ["visual", "textual", "interaction", "acoustic"]
            .iter()
            .enumerate()
            .map(|(i, m)| modality_color(m, i))
            .collect();
        for i in 0..c.len() {
            for j in i + 1..c.len() {
                assert_ne!(c[i], c[j]);
            }
        }
        assert_eq!(
            escape_xml("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
