//! The paper's reference grounding fallback, re-implemented plainly as a baseline.
//!
//! For a TID that is not in the catalogue, the reference code compares each generated term
//! `q_i` with every vocabulary term `w`: similarity 1.0 when equal, 0.8 when one contains the
//! other, else 0; and adds `similarity / (i + 1)` to every TID that holds `w` (once per
//! occurrence). TIDs are ranked by that sum; the reference keeps only the top-1 item. This
//! version returns the top `k` items (ties by TID order, items of a TID ascending) so that
//! recall@10 can be compared. It costs O(vocabulary × query terms) string comparisons per
//! query — which is what [`grlm_core::Grounder`] avoids.

use grlm_core::catalog::{Catalog, CatalogError};
use grlm_core::tid::Tid;

/// The reference fallback over one catalogue. Like the reference code's `word_to_keys`
/// dictionary, the vocabulary is listed once up front; each query then scans all of it.
pub struct ReferenceGrounder<'c> {
    catalog: &'c Catalog,
    words: Vec<&'c str>,
}

impl<'c> ReferenceGrounder<'c> {
    /// Lists the vocabulary of `catalog`.
    pub fn new(catalog: &'c Catalog) -> Result<Self, CatalogError> {
        let words = (0..catalog.term_count() as u32)
            .map(|t| catalog.term_text(t))
            .collect::<Result<_, _>>()?;
        Ok(ReferenceGrounder { catalog, words })
    }

    /// Grounds `query` the reference way; returns up to `k` item ids, best first.
    pub fn ground(&self, query: &Tid, k: usize) -> Result<Vec<u32>, CatalogError> {
        let catalog = self.catalog;
        let k = k.min(catalog.len());
        let direct = catalog.items_with_tid(query)?;
        if !direct.is_empty() {
            return Ok(direct.into_iter().take(k).collect());
        }
        let mut scores = vec![0.0f32; catalog.tid_count()];
        for (i, q) in query.terms().iter().enumerate() {
            let q = q.as_str();
            let weight = 1.0 / (i as f32 + 1.0);
            for (term, &word) in self.words.iter().enumerate() {
                let similarity = if word == q {
                    1.0
                } else if word.contains(q) || q.contains(word) {
                    0.8
                } else {
                    continue;
                };
                for position in 0..catalog.tid_len() {
                    for &tid in catalog.pos_postings(position, term as u32)? {
                        if let Some(s) = scores.get_mut(tid.get() as usize) {
                            *s += similarity * weight;
                        }
                    }
                }
            }
        }
        let mut ranked: Vec<usize> = (0..scores.len()).filter(|&t| scores[t] > 0.0).collect();
        ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let mut out = Vec::with_capacity(k);
        for tid in ranked {
            for &index in catalog.tid_items(tid)? {
                if out.len() == k {
                    return Ok(out);
                }
                if let Some(item) = catalog.item_id(index.get() as usize) {
                    out.push(item);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use grlm_core::{Catalog, CatalogBuilder, Tid};

    use super::ReferenceGrounder;

    fn tid(text: &str) -> Tid {
        Tid::parse(text, None).unwrap()
    }

    fn small() -> Catalog {
        let mut b = CatalogBuilder::new();
        for (id, text) in [
            (9, "[shampoo, color, care, treated, preserve]"),
            (3, "[shampoo, color, care, treated, preserve]"),
            (1, "[hair-mask, color-lock, citrus, protein, unisex]"),
            (2, "[hair-mask, repairing, monoi, unisex, intense]"),
            (5, "[body, wash, energizing, citrus, unisex]"),
            (6, "[hair, growth, oil, keratin, unisex]"),
        ] {
            b.add(id, tid(text), None).unwrap();
        }
        Catalog::from_bytes(b.to_bytes().unwrap()).unwrap()
    }

    #[test]
    fn reference_baseline_behaves_like_the_paper() {
        let c = small();
        let reference = ReferenceGrounder::new(&c).unwrap();
        assert_eq!(
            reference
                .ground(&tid("[shampoo, color, care, treated, preserve]"), 5)
                .unwrap(),
            [3, 9]
        );
        // Exact beats substring (0.8); substrings match anywhere in a term.
        assert_eq!(reference.ground(&tid("[hair, q, q, q, q]"), 1).unwrap(), [6]);
        let mut r = reference.ground(&tid("[hai, q, q, q, q]"), 3).unwrap();
        r.sort_unstable();
        assert_eq!(r, [1, 2, 6]);
    }

    #[test]
    fn k_beyond_the_matches_returns_every_match() {
        let c = small();
        let reference = ReferenceGrounder::new(&c).unwrap();
        assert_eq!(reference.ground(&tid("[citrus]"), usize::MAX).unwrap().len(), 2);
    }
}
