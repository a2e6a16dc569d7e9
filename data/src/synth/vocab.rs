//! Word lists for the synthetic catalogue: palettes (name + CSS colours),
//! shapes and patterns (the visual factors) and per-preset categories and
//! styles (the textual factors).

/// A colour palette: display name and `[fill, accent, background]`.
#[derive(Debug)]
pub struct Palette {
    pub name: &'static str,
    pub colors: [&'static str; 3],
}

pub const PALETTES: [Palette; 10] = [
    Palette {
        name: "coral",
        colors: ["#ff6f61", "#ffd1c9", "#fff5f2"],
    },
    Palette {
        name: "teal",
        colors: ["#008080", "#66c2c2", "#e6f4f4"],
    },
    Palette {
        name: "mustard",
        colors: ["#e1ad01", "#f5d76e", "#fdf8e4"],
    },
    Palette {
        name: "lavender",
        colors: ["#9b7fd1", "#d6c8f0", "#f6f2fc"],
    },
    Palette {
        name: "charcoal",
        colors: ["#36454f", "#8a9aa5", "#eceff1"],
    },
    Palette {
        name: "sage",
        colors: ["#87a96b", "#c7d9b7", "#f3f7ef"],
    },
    Palette {
        name: "navy",
        colors: ["#1f3a68", "#6d8cc0", "#e8eef7"],
    },
    Palette {
        name: "blush",
        colors: ["#e8a2b0", "#f6d3da", "#fdf2f4"],
    },
    Palette {
        name: "rust",
        colors: ["#b7410e", "#e08a5b", "#fbeee6"],
    },
    Palette {
        name: "ivory",
        colors: ["#c8b98a", "#efe6c8", "#fffdf5"],
    },
];

/// Shapes, as named by [`mario_shared::PictureDescriptor::shape`].
pub const SHAPES: [&str; 6] = ["circle", "square", "triangle", "diamond", "hexagon", "star"];

/// Patterns (as named by [`mario_shared::PictureDescriptor::pattern`]) and title adjectives.
pub const PATTERNS: [(&str, &str); 5] = [
    ("solid", "solid"),
    ("stripes", "striped"),
    ("dots", "dotted"),
    ("checks", "checked"),
    ("waves", "wavy"),
];

/// Textual vocabulary of one preset: item categories and styles.
#[derive(Debug)]
pub struct Vocabulary {
    pub categories: [&'static str; 12],
    pub styles: [&'static str; 8],
}

pub const HOME: Vocabulary = Vocabulary {
    categories: [
        "lamp", "mug", "cushion", "blanket", "vase", "clock", "notebook", "tote bag", "planter",
        "rug", "tray", "candle",
    ],
    styles: [
        "minimalist",
        "vintage",
        "playful",
        "rustic",
        "modern",
        "boho",
        "classic",
        "industrial",
    ],
};

pub const BABY: Vocabulary = Vocabulary {
    categories: [
        "bib",
        "rattle",
        "swaddle",
        "onesie",
        "bottle",
        "teether",
        "crib sheet",
        "stroller toy",
        "sippy cup",
        "bath towel",
        "sleep sack",
        "play mat",
    ],
    styles: [
        "organic",
        "soft-touch",
        "classic",
        "playful",
        "eco-friendly",
        "cozy",
        "travel",
        "newborn",
    ],
};

pub const SPORTS: Vocabulary = Vocabulary {
    categories: [
        "water bottle",
        "yoga mat",
        "jersey",
        "cap",
        "gym bag",
        "headband",
        "towel",
        "wristband",
        "running sock",
        "shaker",
        "jump rope",
        "resistance band",
    ],
    styles: [
        "pro",
        "lightweight",
        "breathable",
        "classic",
        "retro",
        "performance",
        "outdoor",
        "training",
    ],
};

/// `word` with its first letter upper-cased.
pub fn capitalise(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
