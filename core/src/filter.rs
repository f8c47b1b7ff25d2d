//! Which items a request may return: the one filter that grounding, constrained decoding
//! and the prior all apply.

/// Excluded items (e.g. the user's history) and an optional allow-list.
///
/// An item is eligible when it is not excluded and, if an allow-list is set, is on it. Ids
/// that the catalogue does not have are ignored. Lookups are binary searches over sorted ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemFilter {
    exclude: Vec<u32>,
    allow: Option<Vec<u32>>,
}

impl ItemFilter {
    /// Everything is eligible.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds items that must not be returned.
    pub fn exclude(mut self, items: impl IntoIterator<Item = u32>) -> Self {
        self.exclude.extend(items);
        self.exclude.sort_unstable();
        self.exclude.dedup();
        self
    }

    /// Restricts results to these items (calling it again widens the list).
    pub fn allow(mut self, items: impl IntoIterator<Item = u32>) -> Self {
        let list = self.allow.get_or_insert_with(Vec::new);
        list.extend(items);
        list.sort_unstable();
        list.dedup();
        self
    }

    /// Whether `item` may be returned.
    #[inline]
    pub fn permits(&self, item: u32) -> bool {
        if self.exclude.binary_search(&item).is_ok() {
            return false;
        }
        match &self.allow {
            Some(allow) => allow.binary_search(&item).is_ok(),
            None => true,
        }
    }

    /// The excluded items, ascending.
    pub fn excluded(&self) -> &[u32] {
        &self.exclude
    }

    /// The allow-list, ascending, if one is set.
    pub fn allowed(&self) -> Option<&[u32]> {
        self.allow.as_deref()
    }

    /// True when the filter lets everything through.
    pub fn is_empty(&self) -> bool {
        self.exclude.is_empty() && self.allow.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::ItemFilter;

    #[test]
    fn exclude_and_allow_compose() {
        let f = ItemFilter::none();
        assert!(f.permits(7) && f.is_empty());
        let f = ItemFilter::none().exclude([3, 1, 3]);
        assert!(!f.permits(1) && !f.permits(3) && f.permits(2));
        let f = f.allow([2, 3]);
        assert!(f.permits(2) && !f.permits(3) && !f.permits(4));
        let f = ItemFilter::none().allow([]);
        assert!(!f.permits(0) && !f.is_empty());
    }
}
