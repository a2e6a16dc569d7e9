//! Small view pieces shared by the panels: an item's picture, an item card, the attention
//! bar and the modality legend. Plain functions: they hold no state.

use mario_shared::{ItemInfo, ModelWeights};
use yew::prelude::*;
use yew::virtual_dom::AttrValue;

use crate::format::modality_color;
use crate::picture;

/// The `onchange` of a file input: the picked file as a message (the input is cleared, so
/// picking the same file again fires again).
pub fn on_file_picked(
    dispatch: &Callback<crate::state::Msg>,
    msg: fn(web_sys::File) -> crate::state::Msg,
) -> Callback<Event> {
    let dispatch = dispatch.clone();
    Callback::from(move |e: Event| {
        let input: web_sys::HtmlInputElement = e.target_unchecked_into();
        let file = input.files().and_then(|f| f.get(0));
        input.set_value("");
        if let Some(file) = file {
            dispatch.emit(msg(file));
        }
    })
}

/// Markup produced by our own SVG writers (escaped there), inserted as is.
pub fn raw_html(markup: String) -> Html {
    Html::from_html_unchecked(AttrValue::from(markup))
}

/// The item's image if it has a URL, else its drawn picture descriptor. `id` must be unique on
/// the page (it prefixes the SVG's gradient ids).
pub fn picture(info: &ItemInfo, id: &str) -> Html {
    if let Some(url) = picture::image_url(info) {
        return html! { <span class="picwrap"><img class="pic" src={url.to_string()} alt="" loading="lazy" /></span> };
    }
    html! { <span class="picwrap" aria-hidden="true">{ raw_html(picture::item_svg(info, id)) }</span> }
}

/// A small item card (history, candidates). With `toggle`, a button that is pressed or not.
pub fn thumb(
    w: &ModelWeights,
    item: u32,
    prefix: &str,
    testid: &'static str,
    toggle: Option<(bool, Callback<MouseEvent>)>,
) -> Html {
    let info = &w.catalogue[item as usize];
    let body = html! {
        <>
            { picture(info, &format!("{prefix}{item}")) }
            <span class="thumb-title">{ info.title.clone() }</span>
        </>
    };
    match toggle {
        Some((pressed, onclick)) => html! {
            <button type="button" class={classes!("thumb", pressed.then_some("liked"))} aria-pressed={pressed.to_string()}
                title={format!("{} — {}", info.title, info.category)} data-testid={testid} data-item-id={item.to_string()} {onclick}>
                { body }
                if pressed { <span class="heart" aria-hidden="true">{ "♥" }</span> }
            </button>
        },
        None => html! {
            <div class="thumb" title={format!("{} — {}", info.title, info.category)} data-testid={testid} data-item-id={item.to_string()}>
                { body }
            </div>
        },
    }
}

/// The modality colours, as a list.
pub fn legend(modalities: &[String]) -> Html {
    html! {
        <ul class="legend" aria-label="modality colours">
            { for modalities.iter().enumerate().map(|(i, m)| html! {
                <li><span class="swatch" style={format!("background:{}", modality_color(m, i))}></span>{ m.clone() }</li>
            }) }
        </ul>
    }
}

/// One stacked bar of attention weights (Eq. 5), a segment per modality.
pub fn attention_bar(modalities: &[String], attention: &[f32]) -> Html {
    let label: Vec<String> = modalities
        .iter()
        .zip(attention)
        .map(|(m, a)| format!("{m} {:.0}%", a * 100.0))
        .collect();
    html! {
        <span class="attn" role="img" aria-label={label.join(", ")} title={label.join(" · ")}>
            { for modalities.iter().zip(attention).enumerate().map(|(i, (m, a))| html! {
                <span class="seg" style={format!("width:{:.2}%;background:{}", a * 100.0, modality_color(m, i))}></span>
            }) }
        </span>
    }
}
