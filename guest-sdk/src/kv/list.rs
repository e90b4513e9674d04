//! Listing a table a page at a time: [`ListOptions`] say which part, a [`Page`]
//! holds it, and [`Paged`] walks every page by following the cursors.
//!
//! The host sorts by key and returns at most `limit` entries (1000 unless told,
//! 10000 at most) with an opaque `cursor` when more follow; passing that cursor
//! back continues after the last entry. Nothing here looks inside a cursor.

use serde::{Deserialize, Serialize};

use super::KvError;
use crate::wit::floww::workflow::kv as wit;

/// Which part of a table [`Kv::list_keys_page`](crate::Kv::list_keys_page) and
/// [`Kv::list_items_page`](crate::Kv::list_items_page) return. The default is the
/// first page of the whole table, with the host's default page size (1000).
///
/// ```no_run
/// use floww::ListOptions;
///
/// let first = ListOptions::new().prefix("user:").limit(50);
/// let everything = ListOptions::default();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ListOptions {
    /// Only keys that start with this.
    pub prefix: Option<String>,
    /// At most this many entries, from 1 to 10000 (the host answers 0 or more
    /// than 10000 with [`KvError::InvalidInput`]); `None` means 1000.
    pub limit: Option<u32>,
    /// Where the previous page ended: its [`Page::cursor`]. `None` starts at the
    /// first key.
    pub cursor: Option<String>,
}

impl ListOptions {
    /// The whole table from its first key, 1000 entries a page: the same as
    /// [`ListOptions::default`].
    ///
    /// ```no_run
    /// let options = floww::ListOptions::new();
    /// assert_eq!(options, floww::ListOptions::default());
    /// ```
    pub fn new() -> Self {
        ListOptions::default()
    }

    /// Only keys that start with `prefix`.
    ///
    /// ```no_run
    /// let orders_of_42 = floww::ListOptions::new().prefix("order:42:");
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// At most `limit` entries a page (1 to 10000).
    ///
    /// ```no_run
    /// let small_pages = floww::ListOptions::new().limit(20);
    /// ```
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Continues after the page whose [`cursor`](Page::cursor) this is.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
    /// use floww::ListOptions;
    ///
    /// let first = ctx.kv.list_keys_page("users", &ListOptions::new().limit(10))?;
    /// if let Some(cursor) = first.cursor {
    ///     let second = ctx.kv.list_keys_page("users", &ListOptions::new().limit(10).after(cursor))?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

impl From<&ListOptions> for wit::ListOptions {
    fn from(options: &ListOptions) -> Self {
        wit::ListOptions { prefix: options.prefix.clone(), limit: options.limit, cursor: options.cursor.clone() }
    }
}

/// One page of a listing, sorted by key.
///
/// `cursor` is set when more entries follow: pass it back as
/// [`ListOptions::cursor`] (or with [`ListOptions::after`]) for the next page. It
/// is opaque; keep it as it is. It serializes as `{"entries": […], "cursor": …}`.
///
/// ```no_run
/// # fn run(ctx: &floww::Context) -> Result<(), floww::KvError> {
/// let page: floww::Page<String> = ctx.kv.list_keys_page("users", &floww::ListOptions::new().limit(10))?;
/// floww::info!("{} keys, more: {}", page.entries.len(), page.cursor.is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The keys or items of this page, sorted by key.
    pub entries: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

impl From<wit::KeyPage> for Page<String> {
    fn from(page: wit::KeyPage) -> Self {
        Page { entries: page.keys, cursor: page.cursor }
    }
}

impl From<wit::ItemPage> for Page<wit::Item> {
    fn from(page: wit::ItemPage) -> Self {
        Page { entries: page.items, cursor: page.cursor }
    }
}

/// Every entry of a listing, fetching one page after another as the previous
/// one runs out. A failed fetch is yielded once and ends the iteration.
pub(crate) struct Paged<E, F> {
    options: ListOptions,
    fetch: F,
    entries: std::vec::IntoIter<E>,
    last_page_seen: bool,
}

impl<E, F> Paged<E, F>
where
    F: FnMut(&ListOptions) -> Result<Page<E>, KvError>,
{
    /// Starts at `options` (usually no cursor); `fetch` gets one page.
    pub(crate) fn new(options: ListOptions, fetch: F) -> Self {
        Paged { options, fetch, entries: Vec::new().into_iter(), last_page_seen: false }
    }
}

impl<E, F> Iterator for Paged<E, F>
where
    F: FnMut(&ListOptions) -> Result<Page<E>, KvError>,
{
    type Item = Result<E, KvError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.entries.next() {
                return Some(Ok(entry));
            }
            if self.last_page_seen {
                return None;
            }
            match (self.fetch)(&self.options) {
                Ok(page) => {
                    self.entries = page.entries.into_iter();
                    self.last_page_seen = page.cursor.is_none();
                    self.options.cursor = page.cursor;
                }
                Err(err) => {
                    self.last_page_seen = true;
                    return Some(Err(err));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of `keys` served `limit` at a time, with the index of the next
    /// key as the cursor, recording the options of every fetch.
    fn serve<'a>(
        keys: &'a [&'a str],
        calls: &'a mut Vec<ListOptions>,
    ) -> impl FnMut(&ListOptions) -> Result<Page<String>, KvError> + 'a {
        move |options| {
            calls.push(options.clone());
            let start: usize = options.cursor.as_deref().map_or(0, |c| c.parse().unwrap());
            let limit = options.limit.unwrap_or(1000) as usize;
            let end = (start + limit).min(keys.len());
            let entries = keys[start..end].iter().map(|k| k.to_string()).collect();
            Ok(Page { entries, cursor: (end < keys.len()).then(|| end.to_string()) })
        }
    }

    #[test]
    fn paged_follows_cursors_to_the_last_page() {
        let keys = ["a", "b", "c", "d", "e"];
        let mut calls = Vec::new();
        let all: Result<Vec<String>, KvError> =
            Paged::new(ListOptions::new().prefix("p").limit(2), serve(&keys, &mut calls)).collect();
        assert_eq!(all.unwrap(), keys);
        let cursors: Vec<Option<&str>> = calls.iter().map(|o| o.cursor.as_deref()).collect();
        assert_eq!(cursors, [None, Some("2"), Some("4")]);
        assert!(calls.iter().all(|o| o.prefix.as_deref() == Some("p") && o.limit == Some(2)), "{calls:?}");
    }

    #[test]
    fn paged_fetches_once_for_a_single_or_empty_page() {
        for keys in [&["a", "b"][..], &[]] {
            let mut calls = Vec::new();
            let all: Vec<String> =
                Paged::new(ListOptions::new(), serve(keys, &mut calls)).map(Result::unwrap).collect();
            assert_eq!(all, keys);
            assert_eq!(calls.len(), 1);
        }
    }

    #[test]
    fn paged_skips_an_empty_page_that_has_a_cursor() {
        let mut pages =
            vec![Page { entries: vec![], cursor: Some("x".to_string()) }, Page { entries: vec![1], cursor: None }]
                .into_iter();
        let all: Vec<i32> =
            Paged::new(ListOptions::new(), |_: &ListOptions| Ok(pages.next().unwrap())).map(Result::unwrap).collect();
        assert_eq!(all, [1]);
    }

    #[test]
    fn paged_yields_a_failed_fetch_once_then_stops() {
        let mut fetches = 0;
        let mut paged = Paged::new(ListOptions::new(), |options: &ListOptions| {
            fetches += 1;
            match options.cursor {
                None => Ok(Page { entries: vec!["a".to_string()], cursor: Some("1".to_string()) }),
                Some(_) => Err(KvError::PermissionDenied("revoked".into())),
            }
        });
        assert_eq!(paged.next(), Some(Ok("a".to_string())));
        assert_eq!(paged.next(), Some(Err(KvError::PermissionDenied("revoked".into()))));
        assert_eq!(paged.next(), None);
        drop(paged);
        assert_eq!(fetches, 2);
    }

    #[test]
    fn list_options_builders_and_conversion() {
        let options = ListOptions::new().prefix("user:").limit(10).after("c1");
        assert_eq!(options, ListOptions { prefix: Some("user:".into()), limit: Some(10), cursor: Some("c1".into()) });
        let wit = wit::ListOptions::from(&options);
        assert_eq!((wit.prefix.as_deref(), wit.limit, wit.cursor.as_deref()), (Some("user:"), Some(10), Some("c1")));
        let default = wit::ListOptions::from(&ListOptions::default());
        assert_eq!((default.prefix, default.limit, default.cursor), (None, None, None));
    }

    #[test]
    fn wit_pages_convert() {
        let page = Page::from(wit::KeyPage { keys: vec!["a".into()], cursor: Some("n".into()) });
        assert_eq!(page, Page { entries: vec!["a".to_string()], cursor: Some("n".to_string()) });
        let page = Page::from(wit::ItemPage { items: vec![], cursor: None });
        assert!(page.entries.is_empty() && page.cursor.is_none());
    }

    #[test]
    fn page_serializes_entries_and_cursor() {
        let page = Page { entries: vec!["a".to_string()], cursor: None };
        assert_eq!(serde_json::to_value(&page).unwrap(), serde_json::json!({"entries": ["a"], "cursor": null}));
    }
}
