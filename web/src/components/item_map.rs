//! The item map: every item as a point in one 2D space (a stored t-SNE of a modality, or the
//! user's personalised space), coloured by category or by the user's dominant modality, with
//! the history and the top-N on top. Hover shows the item's card, a click opens its why
//! panel, drag pans, the wheel (or + / −) zooms, the search box flies to an item.
//!
//! Unlike the other components it keeps state of its own: the view (pan and zoom), the
//! hovered item and a running fly-to are the map's business only, and sending them through
//! the root reducer would re-render the whole page at pointer rate.

use gloo_timers::callback::Timeout;
use mario_shared::item_map::{self, View, nearest_on_screen};
use web_sys::{
    HtmlCanvasElement, HtmlInputElement, HtmlSelectElement, KeyboardEvent, MouseEvent, WheelEvent,
};
use yew::prelude::*;

use super::item::thumb;
use crate::map_draw::{self, Highlights, MapPoints, POINT_PX};
use crate::state::{Dispatch, MapColour, ModelContext, Msg as AppMsg, Shared};

/// CSS height of the canvas.
const HEIGHT: f32 = 460.0;
/// Pixels around the points when the view is fitted.
const MARGIN: f32 = 18.0;
/// Hover / click radius in CSS pixels.
const PICK_RADIUS: f32 = 7.0;
/// Frames of a fly-to and the milliseconds between them.
const FLY_FRAMES: u32 = 14;
const FLY_FRAME_MS: u32 = 22;
/// Zoom of a fly-to relative to the fitted view (at least).
const FLY_ZOOM: f32 = 6.0;
/// The hover card's width and (roughly) height in CSS pixels.
const CARD_W: f32 = 220.0;
const CARD_H: f32 = 150.0;
/// Search hits listed.
const SEARCH_HITS: usize = 8;

#[derive(PartialEq, Properties)]
pub struct ItemMapProps {
    /// Every space the file offers (stored maps, then the personalised one).
    pub spaces: Vec<String>,
    pub space: AttrValue,
    pub colour_by: MapColour,
    /// The points, or why there are none.
    pub points: Result<Shared<MapPoints>, AttrValue>,
    /// A note above the map (e.g. how to add stored maps to an old file).
    pub note: Option<AttrValue>,
    /// Whose space and highlights these are ("user 42", "you").
    pub who: AttrValue,
    pub history: Shared<Vec<u32>>,
    /// The current top-N, best first.
    pub top: Shared<Vec<u32>>,
    pub selected: Option<u32>,
}

pub enum Msg {
    Move(f32, f32),
    Down(f32, f32),
    Up(f32, f32),
    Leave,
    Wheel(f32, f32, f64),
    Zoom(f32),
    Fit,
    Search(String),
    Fly(u32),
    FlyStep,
}

struct Fly {
    from: View,
    to: View,
    frame: u32,
    item: u32,
}

pub struct ItemMap {
    canvas: NodeRef,
    /// The current view and the fitted one it started from (for "Fit" and the zoom figure).
    view: Option<(View, View)>,
    /// What the view was fitted to: the space and the point count.
    fitted: Option<(AttrValue, usize)>,
    hover: Option<u32>,
    /// The item the search flew to.
    focus: Option<u32>,
    /// Where a press started and whether it has moved (a drag) since.
    press: Option<(f32, f32, bool)>,
    last: (f32, f32),
    search: String,
    /// The items the search text finds (computed when the text changes, not per render).
    hits: Vec<u32>,
    fly: Option<Fly>,
    _timer: Option<Timeout>,
}

/// The pointer position in CSS pixels inside the canvas.
fn local(e: &MouseEvent) -> (f32, f32) {
    let rect = e
        .target_dyn_into::<web_sys::Element>()
        .map(|t| t.get_bounding_client_rect());
    let (left, top) = rect.map_or((0.0, 0.0), |r| (r.left(), r.top()));
    (
        (e.client_x() as f64 - left) as f32,
        (e.client_y() as f64 - top) as f32,
    )
}

impl ItemMap {
    fn points<'a>(&self, ctx: &'a Context<Self>) -> Option<&'a MapPoints> {
        ctx.props().points.as_ref().ok().map(|p| &**p)
    }

    /// Fits the view to the points when the space (or the catalogue) changed.
    fn ensure_view(&mut self, ctx: &Context<Self>, width: f32) {
        let Some(points) = self.points(ctx) else {
            return;
        };
        let key = (ctx.props().space.clone(), points.xy.len());
        if self.fitted.as_ref() != Some(&key) || self.view.is_none() {
            let fit = View::fit(&points.xy, width, HEIGHT, MARGIN);
            self.view = Some((fit, fit));
            self.fitted = Some(key);
            self.fly = None;
        } else if let Some((view, fit)) = &mut self.view
            && view.width != width
        {
            view.width = width;
            fit.width = width;
        }
    }

    fn view(&self) -> Option<View> {
        self.view.map(|(v, _)| v)
    }

    fn set_view(&mut self, v: View) {
        if let Some((view, _)) = &mut self.view {
            *view = v;
        }
    }

    fn pick(&self, ctx: &Context<Self>, x: f32, y: f32) -> Option<u32> {
        nearest_on_screen(&self.points(ctx)?.xy, &self.view()?, x, y, PICK_RADIUS)
    }

    fn schedule_fly_step(&mut self, ctx: &Context<Self>) {
        let link = ctx.link().clone();
        self._timer = Some(Timeout::new(FLY_FRAME_MS, move || {
            link.send_message(Msg::FlyStep)
        }));
    }

    fn draw(&mut self, ctx: &Context<Self>) {
        let Some(canvas) = self.canvas.cast::<HtmlCanvasElement>() else {
            return;
        };
        let width = (canvas.client_width() as f32).max(200.0);
        self.ensure_view(ctx, width);
        let (Some(points), Some(view)) = (self.points(ctx), self.view()) else {
            return;
        };
        let props = ctx.props();
        let highlights = Highlights {
            history: &props.history,
            top: &props.top,
            selected: props.selected,
            focus: self.hover.or(self.focus),
        };
        let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
        let zoom = self.view.map_or(1.0, |(v, fit)| v.scale / fit.scale);
        let point = (POINT_PX * zoom.sqrt()).clamp(POINT_PX, 3.0 * POINT_PX);
        if let Ok(ms) = map_draw::draw(&canvas, &view, points, &highlights, point, dpr) {
            let _ = canvas.set_attribute("data-draw-ms", &format!("{ms:.2}"));
        }
        let _ = canvas.set_attribute("data-zoom", &self.zoom_text());
        // The view, for tests and tools that place the pointer on an item: `cx,cy,scale,width,height`.
        let _ = canvas.set_attribute(
            "data-view",
            &format!(
                "{},{},{},{},{}",
                view.cx, view.cy, view.scale, view.width, view.height
            ),
        );
    }

    fn zoom_text(&self) -> String {
        self.view.map_or("1.00".into(), |(v, fit)| {
            format!("{:.2}", v.scale / fit.scale)
        })
    }
}

impl Component for ItemMap {
    type Message = Msg;
    type Properties = ItemMapProps;

    fn create(_ctx: &Context<Self>) -> Self {
        Self {
            canvas: NodeRef::default(),
            view: None,
            fitted: None,
            hover: None,
            focus: None,
            press: None,
            last: (0.0, 0.0),
            search: String::new(),
            hits: Vec::new(),
            fly: None,
            _timer: None,
        }
    }

    fn changed(&mut self, ctx: &Context<Self>, old: &Self::Properties) -> bool {
        if old.space != ctx.props().space {
            self.focus = None;
            self.hover = None;
        }
        true
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Move(x, y) => {
                self.last = (x, y);
                if let Some((x0, y0, moved)) = self.press {
                    let (dx, dy) = (x - x0, y - y0);
                    if moved || dx * dx + dy * dy > 9.0 {
                        if let Some(v) = self.view() {
                            self.set_view(v.pan(dx, dy));
                        }
                        self.hover = None;
                        self.press = Some((x, y, true));
                        return true;
                    }
                    return false;
                }
                let hover = self.pick(ctx, x, y);
                if hover == self.hover {
                    return false;
                }
                self.hover = hover;
            }
            Msg::Down(x, y) => {
                self.press = Some((x, y, false));
                return false;
            }
            Msg::Up(x, y) => {
                let pressed = self.press.take();
                if let Some((_, _, false)) = pressed
                    && let Some(item) = self.pick(ctx, x, y)
                    && let Some(dispatch) = ctx.link().context::<Dispatch>(Callback::noop())
                {
                    dispatch.0.emit(AppMsg::Select(item));
                }
                return false;
            }
            Msg::Leave => {
                self.press = None;
                if self.hover.take().is_none() {
                    return false;
                }
            }
            Msg::Wheel(x, y, dy) => {
                let factor = (-dy * 0.0015).exp().clamp(0.5, 2.0) as f32;
                let Some(v) = self.view() else { return false };
                self.set_view(v.zoom_at(x, y, factor));
            }
            Msg::Zoom(factor) => {
                let Some(v) = self.view() else { return false };
                self.set_view(v.zoom_at(v.width / 2.0, v.height / 2.0, factor));
            }
            Msg::Fit => {
                if let Some((_, fit)) = self.view {
                    self.set_view(fit);
                }
            }
            Msg::Search(text) => {
                if let Some(model) = ctx.link().context::<ModelContext>(Callback::noop()) {
                    self.hits = item_map::search(&model.0.w, &text, SEARCH_HITS);
                }
                self.search = text;
            }
            Msg::Fly(item) => {
                let (Some(points), Some((view, fit))) = (self.points(ctx), self.view) else {
                    return false;
                };
                let Some(p) = points.xy.get(2 * item as usize..2 * item as usize + 2) else {
                    return false;
                };
                let to = View {
                    cx: p[0],
                    cy: p[1],
                    scale: view.scale.max(fit.scale * FLY_ZOOM),
                    ..view
                };
                self.fly = Some(Fly {
                    from: view,
                    to,
                    frame: 0,
                    item,
                });
                self.focus = None;
                self.hover = None;
                self.schedule_fly_step(ctx);
            }
            Msg::FlyStep => {
                let Some(fly) = &mut self.fly else {
                    return false;
                };
                fly.frame += 1;
                let t = fly.frame as f32 / FLY_FRAMES as f32;
                // Ease in and out.
                let eased = t * t * (3.0 - 2.0 * t);
                let v = if fly.frame >= FLY_FRAMES {
                    fly.to
                } else {
                    fly.from.lerp(&fly.to, eased)
                };
                let done = fly.frame >= FLY_FRAMES;
                let item = fly.item;
                self.set_view(v);
                if done {
                    self.fly = None;
                    self.focus = Some(item);
                } else {
                    self.schedule_fly_step(ctx);
                }
            }
        }
        true
    }

    fn rendered(&mut self, ctx: &Context<Self>, _first_render: bool) {
        self.draw(ctx);
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let props = ctx.props();
        let Some(model) = ctx
            .link()
            .context::<ModelContext>(Callback::noop())
            .map(|c| c.0)
        else {
            return Html::default();
        };
        let dispatch = ctx
            .link()
            .context::<Dispatch>(Callback::noop())
            .map(|c| c.0)
            .unwrap_or_default();
        let w = &model.w;
        let link = ctx.link();
        let on_space = dispatch.reform(|e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            AppMsg::MapSpace(select.value())
        });
        let on_colour = dispatch.reform(|e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            AppMsg::MapColour(MapColour::from_param(&select.value()))
        });
        let hits = &self.hits;
        let on_search = link.callback(|e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            Msg::Search(input.value())
        });
        let on_search_key = {
            let first = hits.first().copied();
            link.batch_callback(move |e: KeyboardEvent| {
                (e.key() == "Enter").then_some(()).and(first).map(Msg::Fly)
            })
        };
        let onmousemove = link.callback(|e: MouseEvent| {
            let (x, y) = local(&e);
            Msg::Move(x, y)
        });
        let onmousedown = link.callback(|e: MouseEvent| {
            let (x, y) = local(&e);
            Msg::Down(x, y)
        });
        let onmouseup = link.callback(|e: MouseEvent| {
            let (x, y) = local(&e);
            Msg::Up(x, y)
        });
        let onmouseleave = link.callback(|_: MouseEvent| Msg::Leave);
        let onwheel = link.callback(|e: WheelEvent| {
            e.prevent_default();
            let (x, y) = local(&e);
            Msg::Wheel(x, y, e.delta_y())
        });
        let space_label = |s: &str| {
            if s == item_map::PERSONAL {
                format!("personalised ({})", props.who)
            } else {
                format!("{s} (t-SNE)")
            }
        };
        let card_item = self.hover.or(self.focus);
        let card = card_item.filter(|&i| (i as usize) < w.meta.n_items).map(|item| {
            let rank = props.top.iter().position(|&t| t == item).map(|r| r + 1);
            let in_history = props.history.contains(&item);
            let info = &w.catalogue[item as usize];
            // Beside the point, on the side with room.
            let (left, top) = self
                .view()
                .zip(self.points(ctx))
                .and_then(|(v, p)| {
                    let xy = p.xy.get(2 * item as usize..2 * item as usize + 2)?;
                    let (x, y) = v.to_screen(xy[0], xy[1]);
                    let x = if x + CARD_W + 16.0 > v.width { x - CARD_W - 12.0 } else { x + 12.0 };
                    let y = if y + CARD_H > v.height { y - CARD_H } else { y + 12.0 };
                    Some((x.max(0.0), y.max(0.0)))
                })
                .unwrap_or((0.0, 0.0));
            html! {
                <div class="map-card" data-testid="map-hover" data-item-id={item.to_string()}
                    style={format!("left:{left:.0}px;top:{top:.0}px;width:{CARD_W}px")}>
                    { thumb(w, item, "map-", "map-hover-thumb", None) }
                    <div class="muted">{ format!("#{item}{}", if info.category.is_empty() { String::new() } else { format!(" · {}", info.category) }) }</div>
                    if let Some(r) = rank { <div><strong>{ format!("rank {r}") }</strong>{ " in the top-N" }</div> }
                    if in_history { <div>{ "in the history" }</div> }
                    <div class="muted">{ "click: why this item" }</div>
                </div>
            }
        });
        let (n_points, error) = match &props.points {
            Ok(p) => (p.xy.len() / 2, None),
            Err(e) => (0, Some(e.clone())),
        };
        let axes = if *props.space == *item_map::PERSONAL {
            format!(
                "→ the score for {} (further right: recommended sooner) · ↕ the main way items differ that the score does not see",
                props.who
            )
        } else {
            format!(
                "t-SNE of the {} item embeddings: nearby points are items this modality finds similar; the axes have no units",
                props.space
            )
        };
        let legend = props
            .points
            .as_ref()
            .ok()
            .map(|p| p.legend.clone())
            .unwrap_or_default();
        html! {
            <section class="panel wide map-panel" aria-labelledby="map-h" data-testid="map"
                data-space={props.space.clone()} data-colour={props.colour_by.as_param()}
                data-points={n_points.to_string()} data-flying={self.fly.is_some().to_string()}
                data-focus={self.focus.map(|f| f.to_string()).unwrap_or_default()}>
                <h2 id="map-h">{ "Item map" }</h2>
                <div class="map-controls">
                    <label>{ "space " }
                        <select data-testid="map-space" onchange={on_space}>
                            { for props.spaces.iter().map(|s| html! {
                                <option value={s.clone()} selected={*s == *props.space}>{ space_label(s) }</option>
                            }) }
                        </select>
                    </label>
                    <label>{ "colour by " }
                        <select data-testid="map-color" onchange={on_colour}>
                            { for [MapColour::Category, MapColour::Dominant].into_iter().map(|c| html! {
                                <option value={c.as_param()} selected={c == props.colour_by}>{ c.label() }</option>
                            }) }
                        </select>
                    </label>
                    <label class="map-search">{ "find " }
                        <input type="search" placeholder="title, category or #id" data-testid="map-search"
                            value={self.search.clone()} oninput={on_search} onkeydown={on_search_key} />
                    </label>
                    <span class="map-zoom">
                        <button type="button" class="button icon" aria-label="zoom in" data-testid="map-zoom-in"
                            onclick={link.callback(|_| Msg::Zoom(1.5))}>{ "+" }</button>
                        <button type="button" class="button icon" aria-label="zoom out" data-testid="map-zoom-out"
                            onclick={link.callback(|_| Msg::Zoom(1.0 / 1.5))}>{ "−" }</button>
                        <button type="button" class="button ghost" data-testid="map-fit"
                            onclick={link.callback(|_| Msg::Fit)}>{ "Fit" }</button>
                    </span>
                </div>
                if !hits.is_empty() {
                    <ul class="map-hits" aria-label="search results">
                        { for hits.iter().map(|&item| {
                            let info = &w.catalogue[item as usize];
                            html! {
                                <li><button type="button" class="button ghost" data-testid="map-search-hit" data-item-id={item.to_string()}
                                    title="show it on the map" onclick={link.callback(move |_| Msg::Fly(item))}>
                                    { format!("#{item} {}", info.title) }
                                    if !info.category.is_empty() { <span class="muted">{ format!(" · {}", info.category) }</span> }
                                </button>
                                <button type="button" class="button ghost" data-testid="map-search-why" data-item-id={item.to_string()}
                                    aria-label={format!("why #{item}?")} onclick={dispatch.reform(move |_| AppMsg::Select(item))}>{ "why?" }</button></li>
                            }
                        }) }
                    </ul>
                }
                if let Some(note) = &props.note {
                    <p class="muted" data-testid="map-missing">{ note.clone() }</p>
                }
                if let Some(e) = error {
                    <p class="muted" data-testid="map-error">{ e }</p>
                } else {
                    <div class="map-wrap">
                        <canvas ref={self.canvas.clone()} class="map-canvas" data-testid="map-canvas"
                            style={format!("height:{HEIGHT}px")} role="img"
                            aria-label={format!("map of {n_points} items in the {} space", props.space)}
                            {onmousemove} {onmousedown} {onmouseup} {onmouseleave} {onwheel}></canvas>
                        { card.unwrap_or_default() }
                    </div>
                    <p class="muted map-axes">{ axes }</p>
                    <ul class="legend map-legend" data-testid="map-legend">
                        { for legend.iter().map(|(name, colour)| html! {
                            <li><span class="swatch" style={format!("background:{colour}")}></span>{ name.clone() }</li>
                        }) }
                        <li class="muted">{ "○ history · ● top-N (number = rank) · red ring: selected" }</li>
                    </ul>
                }
            </section>
        }
    }
}
