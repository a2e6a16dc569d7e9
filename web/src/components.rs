//! The page's components, one per file in `components/`, each with its props struct above it.
//! They read the model from [`crate::state::ModelContext`] and send actions through
//! [`crate::state::Dispatch`]; they hold no state of their own, except the item map's view
//! (pan, zoom, hover), which is local to it.

mod bench_panel;
mod compare;
mod header;
mod influence_panel;
mod item;
mod item_map;
mod load_panels;
mod new_user_panel;
mod recs;
mod tools;
mod user_panel;
mod why;

pub use bench_panel::BenchPanel;
pub use compare::ComparePanel;
pub use header::Header;
pub use influence_panel::InfluencePanel;
pub use item_map::ItemMap;
pub use load_panels::{ErrorPanel, LoadingPanel};
pub use new_user_panel::NewUserPanel;
pub use recs::RecGrid;
pub use tools::ToolsPanel;
pub use user_panel::UserPanel;
pub use why::WhyPanel;
