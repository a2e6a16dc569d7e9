//! Display metadata for items: what the browser draws on a card and what
//! `mario recommend` prints. Real datasets may have none of it (then titles are
//! synthesised from the item id); the synthetic catalogue has all of it.

use serde::{Deserialize, Serialize};

/// A procedural picture of an item, derived from its visual latent, so that
/// visual similarity is literally visible when the browser draws it as SVG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PictureDescriptor {
    /// One of `circle`, `square`, `triangle`, `diamond`, `hexagon`, `star`.
    pub shape: String,
    /// Two to three CSS hex colours (`#rrggbb`): fill, accent, background.
    pub colors: Vec<String>,
    /// One of `solid`, `stripes`, `dots`, `checks`, `waves`.
    pub pattern: String,
}

/// One catalogue row (one line of `items.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemInfo {
    /// Item id, the row of every feature matrix and embedding table.
    pub id: u32,
    pub title: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<PictureDescriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

impl ItemInfo {
    /// A placeholder row for datasets that ship no catalogue.
    pub fn anonymous(id: u32) -> Self {
        Self {
            id,
            title: format!("Item {id}"),
            category: String::new(),
            description: String::new(),
            picture: None,
            image_url: None,
        }
    }
}
