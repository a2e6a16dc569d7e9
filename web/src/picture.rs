//! Draws an item's [`PictureDescriptor`] as inline SVG (`viewBox 0 0 100 100`): a
//! rounded background tile, the shape, and its fill — a solid colour or an SVG
//! `<pattern>` (stripes, dots, checks, waves) in the fill and accent colours.
//!
//! Every colour is checked to be a CSS hex colour before it reaches the markup, and every
//! text is escaped, so a hostile catalogue cannot inject markup. Items without a
//! descriptor get a neutral tile with the initial of their title.

use mario_shared::{ItemInfo, PictureDescriptor};

use crate::format::escape_xml;

const DEFAULT_FILL: &str = "#8a94a6";
const DEFAULT_ACCENT: &str = "#3d4656";
const DEFAULT_BACKGROUND: &str = "#eef1f5";

/// `#rgb` or `#rrggbb`.
pub fn is_hex_color(s: &str) -> bool {
    let Some(hex) = s.strip_prefix('#') else {
        return false;
    };
    matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn color_or<'a>(colors: &'a [String], i: usize, default: &'a str) -> &'a str {
    colors
        .get(i)
        .map(String::as_str)
        .filter(|c| is_hex_color(c))
        .unwrap_or(default)
}

/// Points of a regular polygon (or a star when `inner` is set) around the tile's centre.
fn polygon(points: usize, radius: f32, inner: Option<f32>, rotation_deg: f32, cy: f32) -> String {
    let n = if inner.is_some() { points * 2 } else { points };
    (0..n)
        .map(|i| {
            let r = match inner {
                Some(ri) if i % 2 == 1 => ri,
                _ => radius,
            };
            let a = (rotation_deg + 360.0 * i as f32 / n as f32).to_radians();
            format!("{:.1},{:.1}", 50.0 + r * a.cos(), cy + r * a.sin())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shape element, filled with `fill` and outlined in `stroke`.
fn shape_markup(shape: &str, fill: &str, stroke: &str) -> String {
    let style = format!(
        "fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"2.5\" stroke-linejoin=\"round\""
    );
    match shape {
        "circle" => format!("<circle cx=\"50\" cy=\"50\" r=\"32\" {style}/>"),
        "square" => {
            format!("<rect x=\"20\" y=\"20\" width=\"60\" height=\"60\" rx=\"7\" {style}/>")
        }
        "triangle" => format!(
            "<polygon points=\"{}\" {style}/>",
            polygon(3, 40.0, None, -90.0, 59.0)
        ),
        "diamond" => format!(
            "<polygon points=\"{}\" {style}/>",
            polygon(4, 36.0, None, -90.0, 50.0)
        ),
        "hexagon" => format!(
            "<polygon points=\"{}\" {style}/>",
            polygon(6, 34.0, None, 0.0, 50.0)
        ),
        "star" => format!(
            "<polygon points=\"{}\" {style}/>",
            polygon(5, 38.0, Some(16.0), -90.0, 53.0)
        ),
        // Unknown shapes draw as a rounded square.
        _ => format!("<rect x=\"20\" y=\"20\" width=\"60\" height=\"60\" rx=\"16\" {style}/>"),
    }
}

/// The `<pattern>` definition for a fill pattern, or `None` for a solid fill.
fn pattern_markup(id: &str, pattern: &str, fill: &str, accent: &str) -> Option<String> {
    let body = match pattern {
        "stripes" => format!(
            "<pattern id=\"{id}\" patternUnits=\"userSpaceOnUse\" width=\"10\" height=\"10\" patternTransform=\"rotate(45)\">\
             <rect width=\"10\" height=\"10\" fill=\"{fill}\"/><rect width=\"4\" height=\"10\" fill=\"{accent}\"/></pattern>"
        ),
        "dots" => format!(
            "<pattern id=\"{id}\" patternUnits=\"userSpaceOnUse\" width=\"10\" height=\"10\">\
             <rect width=\"10\" height=\"10\" fill=\"{fill}\"/><circle cx=\"5\" cy=\"5\" r=\"2.2\" fill=\"{accent}\"/></pattern>"
        ),
        "checks" => format!(
            "<pattern id=\"{id}\" patternUnits=\"userSpaceOnUse\" width=\"12\" height=\"12\">\
             <rect width=\"12\" height=\"12\" fill=\"{fill}\"/><rect width=\"6\" height=\"6\" fill=\"{accent}\"/>\
             <rect x=\"6\" y=\"6\" width=\"6\" height=\"6\" fill=\"{accent}\"/></pattern>"
        ),
        "waves" => format!(
            "<pattern id=\"{id}\" patternUnits=\"userSpaceOnUse\" width=\"16\" height=\"8\">\
             <rect width=\"16\" height=\"8\" fill=\"{fill}\"/>\
             <path d=\"M0 4 Q4 0 8 4 T16 4\" fill=\"none\" stroke=\"{accent}\" stroke-width=\"1.8\"/></pattern>"
        ),
        _ => return None,
    };
    Some(body)
}

/// SVG for a picture descriptor. `id` must be unique in the document (it names the pattern).
pub fn descriptor_svg(pic: &PictureDescriptor, id: &str, label: &str) -> String {
    let fill = color_or(&pic.colors, 0, DEFAULT_FILL);
    let accent = color_or(&pic.colors, 1, DEFAULT_ACCENT);
    let background = color_or(&pic.colors, 2, DEFAULT_BACKGROUND);
    let id = sanitize_id(id);
    let (defs, shape_fill) = match pattern_markup(&id, &pic.pattern, fill, accent) {
        Some(p) => (format!("<defs>{p}</defs>"), format!("url(#{id})")),
        None => (String::new(), fill.to_string()),
    };
    format!(
        "<svg class=\"pic\" viewBox=\"0 0 100 100\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">\
         {defs}<rect width=\"100\" height=\"100\" rx=\"12\" fill=\"{background}\"/>{shape}</svg>",
        label = escape_xml(label),
        shape = shape_markup(&pic.shape, &shape_fill, accent),
    )
}

/// A neutral tile with the first letter of the title, for items without a descriptor.
pub fn placeholder_svg(title: &str, label: &str) -> String {
    let initial = title
        .chars()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_else(|| "?".into());
    format!(
        "<svg class=\"pic\" viewBox=\"0 0 100 100\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <rect width=\"100\" height=\"100\" rx=\"12\" fill=\"{DEFAULT_BACKGROUND}\"/>\
         <text x=\"50\" y=\"50\" dy=\"0.35em\" text-anchor=\"middle\" font-family=\"system-ui, sans-serif\" font-size=\"42\" font-weight=\"600\" fill=\"{DEFAULT_FILL}\">{initial}</text></svg>",
        label = escape_xml(label),
        initial = escape_xml(&initial),
    )
}

/// The picture of an item as SVG markup (descriptor if present, else placeholder).
/// Items with only an `image_url` are drawn by the page as `<img>`; see [`image_url`].
pub fn item_svg(item: &ItemInfo, id: &str) -> String {
    match &item.picture {
        Some(pic) => {
            let label = format!("{} {} {}", pic.pattern, pic.shape, item.title);
            descriptor_svg(pic, id, label.trim())
        }
        None => placeholder_svg(&item.title, &item.title),
    }
}

/// An `http(s)` image URL of the item, if it has one and no descriptor.
pub fn image_url(item: &ItemInfo) -> Option<&str> {
    if item.picture.is_some() {
        return None;
    }
    item.image_url
        .as_deref()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

/// Keeps only characters valid in an XML id.
fn sanitize_id(id: &str) -> String {
    let s: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    if s.is_empty() {
        "p".to_string()
    } else {
        format!("p{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pic(shape: &str, pattern: &str, colors: &[&str]) -> PictureDescriptor {
        PictureDescriptor {
            shape: shape.into(),
            colors: colors.iter().map(|s| s.to_string()).collect(),
            pattern: pattern.into(),
        }
    }

    #[test]
    fn every_shape_and_pattern_draws() {
        for shape in [
            "circle", "square", "triangle", "diamond", "hexagon", "star", "blob",
        ] {
            for pattern in ["solid", "stripes", "dots", "checks", "waves"] {
                let svg = descriptor_svg(
                    &pic(shape, pattern, &["#112233", "#abcdef", "#ffffff"]),
                    "x-1",
                    "t",
                );
                assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
                assert!(svg.contains("#112233") && svg.contains("#ffffff"));
                if pattern == "solid" {
                    assert!(!svg.contains("<pattern"));
                } else {
                    assert!(
                        svg.contains("<pattern id=\"px-1\"") && svg.contains("url(#px-1)"),
                        "{pattern}"
                    );
                    assert!(svg.contains("#abcdef"));
                }
            }
        }
        let star = descriptor_svg(&pic("star", "solid", &["#000"]), "s", "");
        let pts = star
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(pts.split(' ').count(), 10);
    }

    #[test]
    fn hostile_values_are_neutralised() {
        let svg = descriptor_svg(
            &pic(
                "circle",
                "dots",
                &["red\"/><script>", "#12345g", "url(javascript:1)"],
            ),
            "a\"b<c",
            "<img onerror=1>",
        );
        assert!(!svg.contains("<script") && !svg.contains("javascript") && !svg.contains("<img"));
        assert!(
            svg.contains(DEFAULT_FILL)
                && svg.contains(DEFAULT_ACCENT)
                && svg.contains(DEFAULT_BACKGROUND)
        );
        assert!(svg.contains("id=\"pabc\""));
        let ph = placeholder_svg("<b>", "<b>");
        assert!(!ph.contains("<b>"));
        assert!(ph.contains(">B</text>"));
        assert!(
            is_hex_color("#abc")
                && is_hex_color("#A0B1C2")
                && !is_hex_color("abc")
                && !is_hex_color("#abcd")
        );
    }

    #[test]
    fn items_without_descriptor() {
        let mut item = ItemInfo::anonymous(7);
        assert!(item_svg(&item, "q").contains(">I</text>"));
        assert_eq!(image_url(&item), None);
        item.image_url = Some("https://example.org/7.jpg".into());
        assert_eq!(image_url(&item), Some("https://example.org/7.jpg"));
        item.image_url = Some("javascript:alert(1)".into());
        assert_eq!(image_url(&item), None);
    }
}
