//! Reading a weights file: header, version, dtypes, shapes against each other, CSR bounds
//! and finite values are all checked, each failure a [`WeightsError`] naming the tensor.

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::*;

impl ModelWeights {
    /// Parses and validates a weights file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        let st = SafeTensors::deserialize(bytes).map_err(map_safetensors_error)?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(map_safetensors_error)?;
        let md = header.metadata().clone().unwrap_or_default();
        let format = md.get("format").cloned();
        if format.as_deref() != Some(FORMAT_NAME) {
            return Err(WeightsError::WrongFormat { found: format });
        }
        let version = md.get("version").cloned().unwrap_or_default();
        if version.parse::<u32>().ok() != Some(FORMAT_VERSION) {
            return Err(WeightsError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let meta: WeightsMeta = serde_json::from_str(
            md.get("meta")
                .ok_or_else(|| WeightsError::BadMeta("missing".into()))?,
        )
        .map_err(|e| WeightsError::BadMeta(e.to_string()))?;
        if meta.d == 0 || meta.d > 4096 {
            return Err(WeightsError::BadMeta(format!(
                "d = {} is out of range 1..=4096",
                meta.d
            )));
        }
        if meta.modalities.is_empty() {
            return Err(WeightsError::BadMeta("no modalities".into()));
        }
        for (i, name) in meta.modalities.iter().enumerate() {
            if meta.modalities[..i].contains(name) {
                return Err(WeightsError::BadMeta(format!(
                    "modality `{name}` listed twice"
                )));
            }
        }
        // Guard against metadata that claims more values than the file could hold.
        let budget = bytes.len();
        let claimed = meta
            .n_users
            .checked_add(meta.n_items.saturating_mul(meta.modalities.len()))
            .and_then(|rows| rows.checked_mul(meta.d));
        if claimed.is_none_or(|c| c > budget) {
            return Err(WeightsError::BadMeta(format!(
                "n_users = {}, n_items = {}, d = {} claim more values than the file's {} bytes",
                meta.n_users, meta.n_items, meta.d, budget
            )));
        }

        let user_embedding = read_table(&st, "user_embedding", meta.n_users, meta.d, meta.dtype)?;
        let item_embedding = meta
            .modalities
            .iter()
            .map(|m| {
                read_table(
                    &st,
                    &format!("item_embedding.{m}"),
                    meta.n_items,
                    meta.d,
                    meta.dtype,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let train_indptr = read_u32(&st, "train_items.indptr", Some(meta.n_users + 1))?;
        let train_indices = read_u32(&st, "train_items.indices", None)?;
        validate_csr(&train_indptr, &train_indices, meta.n_items)?;
        let fusion_fc = if meta.fusion == FusionKind::Fc {
            let md = meta.modalities.len() * meta.d;
            Some((
                read_f32(&st, "fusion.fc.weight", &[md, meta.d])?,
                read_f32(&st, "fusion.fc.bias", &[meta.d])?,
            ))
        } else {
            None
        };
        let catalogue = read_catalogue(&st, meta.n_items)?;
        let mut map_names: Vec<String> = st
            .names()
            .into_iter()
            .filter(|n| n.starts_with("map."))
            .map(|n| n.to_string())
            .collect();
        // In modality order (the order `mario export` writes them), then any other by name.
        map_names.sort_by_key(|n| {
            let space = &n["map.".len()..];
            let pos = meta.modalities.iter().position(|m| m == space);
            (pos.unwrap_or(usize::MAX), n.clone())
        });
        let maps = map_names
            .iter()
            .map(|name| {
                read_f32(&st, name, &[meta.n_items, 2])
                    .map(|xy| (name["map.".len()..].to_string(), xy))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            meta,
            user_embedding,
            item_embedding,
            train_indptr,
            train_indices,
            fusion_fc,
            catalogue,
            maps,
        })
    }
}

fn tensor<'a>(st: &'a SafeTensors<'a>, name: &str) -> Result<TensorView<'a>, WeightsError> {
    st.tensor(name)
        .map_err(|_| WeightsError::MissingTensor(name.to_string()))
}

fn check_shape(name: &str, found: &[usize], expected: &[usize]) -> Result<(), WeightsError> {
    if found != expected {
        return Err(WeightsError::ShapeMismatch {
            tensor: name.to_string(),
            found: found.to_vec(),
            expected: expected.to_vec(),
        });
    }
    Ok(())
}

fn wrong_dtype(name: &str, found: Dtype, expected: &str) -> WeightsError {
    WeightsError::WrongDtype {
        tensor: name.to_string(),
        found: format!("{found:?}"),
        expected: expected.to_string(),
    }
}

fn check_finite(name: &str, values: &[f32]) -> Result<(), WeightsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(WeightsError::NonFinite {
            tensor: name.to_string(),
            index,
        }),
        None => Ok(()),
    }
}

fn f32_from_le(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn read_f32(st: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Result<Vec<f32>, WeightsError> {
    let t = tensor(st, name)?;
    if t.dtype() != Dtype::F32 {
        return Err(wrong_dtype(name, t.dtype(), "F32"));
    }
    check_shape(name, t.shape(), shape)?;
    let values = f32_from_le(t.data());
    check_finite(name, &values)?;
    Ok(values)
}

fn read_table(
    st: &SafeTensors<'_>,
    name: &str,
    rows: usize,
    cols: usize,
    dtype: StorageDtype,
) -> Result<Vec<f32>, WeightsError> {
    let t = tensor(st, name)?;
    check_shape(name, t.shape(), &[rows, cols])?;
    let values = match (dtype, t.dtype()) {
        (StorageDtype::F32, Dtype::F32) => f32_from_le(t.data()),
        (StorageDtype::F16, Dtype::F16) => t
            .data()
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        (StorageDtype::Int8, Dtype::I8) => {
            let scales = read_f32(st, &format!("{name}.scale"), &[rows])?;
            t.data()
                .chunks_exact(cols.max(1))
                .zip(&scales)
                .flat_map(|(row, s)| row.iter().map(move |q| f32::from(*q as i8) * s))
                .collect()
        }
        (expected, found) => {
            let expected = match expected {
                StorageDtype::F32 => "F32",
                StorageDtype::F16 => "F16",
                StorageDtype::Int8 => "I8",
            };
            return Err(wrong_dtype(name, found, expected));
        }
    };
    check_finite(name, &values)?;
    Ok(values)
}

fn read_u32(
    st: &SafeTensors<'_>,
    name: &str,
    len: Option<usize>,
) -> Result<Vec<u32>, WeightsError> {
    let t = tensor(st, name)?;
    if t.dtype() != Dtype::U32 {
        return Err(wrong_dtype(name, t.dtype(), "U32"));
    }
    if t.shape().len() != 1 {
        return Err(WeightsError::ShapeMismatch {
            tensor: name.to_string(),
            found: t.shape().to_vec(),
            expected: vec![len.unwrap_or(0)],
        });
    }
    if let Some(len) = len {
        check_shape(name, t.shape(), &[len])?;
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

pub(super) fn validate_csr(
    indptr: &[u32],
    indices: &[u32],
    n_items: usize,
) -> Result<(), WeightsError> {
    if indptr.first() != Some(&0) {
        return Err(WeightsError::BadCsr("indptr must start at 0".into()));
    }
    if let Some(w) = indptr.windows(2).position(|w| w[0] > w[1]) {
        return Err(WeightsError::BadCsr(format!(
            "indptr decreases at user {w}"
        )));
    }
    if indptr.last().map(|&l| l as usize) != Some(indices.len()) {
        return Err(WeightsError::BadCsr(format!(
            "indptr ends at {:?} but there are {} indices",
            indptr.last(),
            indices.len()
        )));
    }
    if let Some(pos) = indices.iter().position(|&i| i as usize >= n_items) {
        return Err(WeightsError::BadCsr(format!(
            "item index {} at position {pos} is out of range (n_items = {n_items})",
            indices[pos]
        )));
    }
    Ok(())
}

fn read_catalogue(st: &SafeTensors<'_>, n_items: usize) -> Result<Vec<ItemInfo>, WeightsError> {
    let t = tensor(st, "catalogue")?;
    if t.dtype() != Dtype::U8 {
        return Err(wrong_dtype("catalogue", t.dtype(), "U8"));
    }
    let text =
        std::str::from_utf8(t.data()).map_err(|e| WeightsError::BadCatalogue(e.to_string()))?;
    let mut items = Vec::with_capacity(n_items.min(text.len()));
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let item: ItemInfo = serde_json::from_str(line)
            .map_err(|e| WeightsError::BadCatalogue(format!("line {}: {e}", line_no + 1)))?;
        if item.id as usize != items.len() {
            return Err(WeightsError::BadCatalogue(format!(
                "line {}: item id {} out of order (expected {})",
                line_no + 1,
                item.id,
                items.len()
            )));
        }
        items.push(item);
    }
    if items.len() != n_items {
        return Err(WeightsError::BadCatalogue(format!(
            "{} rows for {n_items} items",
            items.len()
        )));
    }
    Ok(items)
}
