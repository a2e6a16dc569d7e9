//! The item map's data for the current view: which space is shown, its points and colours
//! (computed once per model, space, colouring and query, then cached), and the history and
//! top-N it highlights. The drawing and the pointer handling are the `ItemMap` component's.

use std::cell::RefCell;

use mario_shared::ModelWeights;
use mario_shared::item_map::{self, PERSONAL};
use yew::prelude::*;

use super::App;
use crate::components::ItemMap;
use crate::format::modality_color;
use crate::map_draw::{MapPoints, rgb};
use crate::state::{MapColour, Mode, Query, Shared};

/// Category colours (Tableau 10 and two more); further categories reuse them.
const CATEGORY_PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#8c564b",
];

/// What the cached points were computed for.
#[derive(PartialEq)]
pub(super) struct MapKey {
    model: *const ModelWeights,
    space: String,
    colour: MapColour,
    query: Query,
}

pub(super) type MapCache = RefCell<Option<(MapKey, Result<Shared<MapPoints>, String>)>>;

/// How an old file gets stored maps.
const NO_STORED_MAPS: &str = "This file has no stored t-SNE maps (it was written by `mario train`, or exported with \
     --no-map). `mario export --run RUN_DIR --out FILE` adds one per modality; the personalised space needs none.";

/// A colour index per item, the palette and the legend rows.
struct Colouring {
    colour: Vec<u16>,
    palette: Vec<[u8; 3]>,
    legend: Vec<(String, String)>,
}

fn category_colours(w: &ModelWeights) -> Colouring {
    let (of_item, names) = item_map::categories(w);
    let palette: Vec<[u8; 3]> = CATEGORY_PALETTE.iter().map(|c| rgb(c)).collect();
    let colour = of_item
        .iter()
        .map(|&k| (k as usize % palette.len()) as u16)
        .collect();
    let mut legend: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .take(CATEGORY_PALETTE.len())
        .map(|(k, n)| {
            let name = if n.is_empty() {
                "no category".to_string()
            } else {
                n.clone()
            };
            (name, CATEGORY_PALETTE[k].to_string())
        })
        .collect();
    if names.len() > CATEGORY_PALETTE.len() {
        legend.push((
            format!("… {} categories in all (colours repeat)", names.len()),
            "transparent".into(),
        ));
    }
    Colouring {
        colour,
        palette,
        legend,
    }
}

fn need_user(query: &Query) -> String {
    match query {
        Query::NewUser(_) => "like a few items first: this needs your folded-in user vector".into(),
        Query::User(u) => format!("user {u} has no vector in this file"),
    }
}

impl App {
    /// The space to show and, when the address asked for one the file lacks, why not.
    fn map_space(&self, w: &ModelWeights) -> (String, Option<String>) {
        let spaces = item_map::spaces(w);
        let default = spaces[0].clone();
        match &self.map_space {
            Some(s) if spaces.contains(s) => (s.clone(), None),
            Some(s) => {
                let note = format!("this file has no map \"{s}\"; showing {default}");
                (default, Some(note))
            }
            None => (default, None),
        }
    }

    fn compute_map(
        &self,
        w: &ModelWeights,
        space: &str,
        colour: MapColour,
        query: &Query,
    ) -> Result<MapPoints, String> {
        let user = self.query_vector(query).map(|(u, _)| u);
        let per_modality = |what: &str| -> Result<(), String> {
            if super::view::counterfactuals_defined(w) {
                Ok(())
            } else {
                Err(format!(
                    "{what} is defined for attention and mean fusion; this file uses {} fusion",
                    w.meta.fusion
                ))
            }
        };
        let (xy, dominant) = if space == PERSONAL {
            per_modality("the personalised space")?;
            let user = user.as_deref().ok_or_else(|| need_user(query))?;
            let (xy, dominant) = item_map::personal_map(w, user).map_err(|e| e.to_string())?;
            (xy, Some(dominant))
        } else {
            let xy = item_map::stored(w, space).ok_or(NO_STORED_MAPS)?.to_vec();
            (xy, None)
        };
        let Colouring {
            colour,
            palette,
            legend,
        } = match colour {
            MapColour::Category => category_colours(w),
            MapColour::Dominant => {
                per_modality("colouring by dominant modality")?;
                let dominant = match dominant {
                    Some(d) => d,
                    None => {
                        let user = user.as_deref().ok_or_else(|| need_user(query))?;
                        item_map::dominant_modality(w, user).map_err(|e| e.to_string())?
                    }
                };
                let names = &w.meta.modalities;
                let css: Vec<&str> = names
                    .iter()
                    .enumerate()
                    .map(|(k, n)| modality_color(n, k))
                    .collect();
                Colouring {
                    colour: dominant.iter().map(|&k| k as u16).collect(),
                    palette: css.iter().map(|c| rgb(c)).collect(),
                    legend: names
                        .iter()
                        .zip(&css)
                        .map(|(n, c)| (format!("{n} adds most"), c.to_string()))
                        .collect(),
                }
            }
        };
        Ok(MapPoints {
            xy,
            colour,
            palette,
            legend,
        })
    }

    /// The map panel for the current query.
    pub(super) fn view_map(&self) -> Html {
        let Some(model) = &self.model else {
            return Html::default();
        };
        let w = &model.w;
        let (space, wrong_space) = self.map_space(w);
        let query = self.query();
        let key = MapKey {
            model: std::rc::Rc::as_ptr(&model.w),
            space: space.clone(),
            colour: self.map_colour,
            query: query.clone(),
        };
        let points = {
            let mut cache = self.map_cache.borrow_mut();
            match &*cache {
                Some((k, points)) if *k == key => points.clone(),
                _ => {
                    let points = self
                        .compute_map(w, &space, self.map_colour, &query)
                        .map(Shared::new);
                    *cache = Some((key, points.clone()));
                    points
                }
            }
        };
        let history = match &query {
            Query::User(u) => w.train_items(*u).to_vec(),
            Query::NewUser(liked) => liked.clone(),
        };
        let top: Vec<u32> = self
            .result
            .as_ref()
            .filter(|r| r.query == query)
            .map(|r| r.recs.iter().map(|x| x.item).collect())
            .unwrap_or_default();
        let note = match (wrong_space, w.maps.is_empty()) {
            (Some(n), true) => Some(format!("{n}. {NO_STORED_MAPS}")),
            (Some(n), false) => Some(n),
            (None, true) => Some(NO_STORED_MAPS.to_string()),
            (None, false) => None,
        };
        let who = match self.mode {
            Mode::Explore => format!("user {}", self.user),
            Mode::NewUser => "you".to_string(),
        };
        html! {
            <ItemMap spaces={item_map::spaces(w)} space={AttrValue::from(space)} colour_by={self.map_colour}
                points={points.map_err(AttrValue::from)} note={note.map(AttrValue::from)} who={AttrValue::from(who)}
                history={Shared::new(history)} top={Shared::new(top)} selected={self.selected} />
        }
    }
}
