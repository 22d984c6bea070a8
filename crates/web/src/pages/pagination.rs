//! Page numbers for every paged list (User management, Activity, the
//! organisations and an organisation's users, an area's users): the items of
//! the GOV.UK pagination component, rendered by the `pages` macro of
//! `components.html`.
//!
//! As the Design System asks: the first, the last and the current page with
//! one page either side, the rest as ellipses (a gap of one page shows that
//! page instead); Previous and Next. Each link is built by the list itself, so
//! it keeps the list's search, filters and sort.

/// One item of the component's list: a page link, or an ellipsis. The fields
/// are those of the Nunjucks macro's `items` (`visuallyHiddenText` is the
/// link's `aria-label`, "Page N" when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageLink {
    pub number: String,
    pub href: String,
    pub current: bool,
    pub ellipsis: bool,
    pub visually_hidden_text: String,
    pub attributes: Vec<(String, String)>,
}

/// A list's pagination: empty (nothing is shown) when it has one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pagination {
    pub items: Vec<PageLink>,
    /// The previous page's address ("" on the first page).
    pub previous: String,
    /// The next page's address ("" on the last page).
    pub next: String,
}

/// How many pages `total` items make, `per_page` to a page: at least one.
pub fn last_page(total: i64, per_page: i64) -> i64 {
    if per_page < 1 {
        return 1;
    }
    ((total + per_page - 1) / per_page).max(1)
}

/// "Showing 26 to 50 of 201 users" for page `page` showing `shown` items of
/// `total`, `noun` being the item's name (one, many); "" when there are none.
pub fn showing(page: i64, per_page: i64, shown: usize, total: i64, noun: (&str, &str)) -> String {
    if total == 0 || shown == 0 {
        return String::new();
    }
    let from = (page - 1) * per_page + 1;
    let to = from + shown as i64 - 1;
    let noun = if total == 1 { noun.0 } else { noun.1 };
    format!("Showing {from} to {to} of {total} {noun}")
}

impl Pagination {
    /// Page `page` of `last` pages, each page's address from `link`.
    pub fn new(page: i64, last: i64, link: impl Fn(i64) -> String) -> Self {
        Self::build(page, Some(last), page < last, link)
    }

    /// Page `page` of a list whose last page is not known (Activity, when
    /// there are more events than are counted): numbers up to the next page,
    /// if `more`, then an ellipsis.
    pub fn open_ended(page: i64, more: bool, link: impl Fn(i64) -> String) -> Self {
        Self::build(page, None, more, link)
    }

    fn build(page: i64, last: Option<i64>, more: bool, link: impl Fn(i64) -> String) -> Self {
        if page <= 1 && !more {
            return Self::default();
        }
        let end = last.unwrap_or(if more { page + 1 } else { page });
        let mut shown: Vec<i64> = [1, page - 1, page, page + 1, end]
            .into_iter()
            .filter(|n| (1..=end).contains(n))
            .collect();
        shown.sort_unstable();
        shown.dedup();
        let mut items = Vec::new();
        let mut before = 0;
        for n in shown {
            if n == before + 2 {
                items.push(number(before + 1, page, &link));
            } else if n > before + 2 {
                items.push(ellipsis());
            }
            items.push(number(n, page, &link));
            before = n;
        }
        if last.is_none() && more {
            items.push(ellipsis());
        }
        Self {
            items,
            previous: if page > 1 {
                link(page - 1)
            } else {
                String::new()
            },
            next: if more { link(page + 1) } else { String::new() },
        }
    }

    /// Whether there is nothing to show (one page only).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.previous.is_empty() && self.next.is_empty()
    }
}

fn number(n: i64, page: i64, link: &impl Fn(i64) -> String) -> PageLink {
    PageLink {
        number: n.to_string(),
        href: link(n),
        current: n == page,
        ..PageLink::default()
    }
}

fn ellipsis() -> PageLink {
    PageLink {
        ellipsis: true,
        ..PageLink::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "1 … 4 [5] 6 … 9", with "<" and ">" for Previous and Next.
    fn shown(p: &Pagination) -> String {
        let mut out = Vec::new();
        if !p.previous.is_empty() {
            out.push("<".to_owned());
        }
        for item in &p.items {
            out.push(if item.ellipsis {
                "…".to_owned()
            } else if item.current {
                format!("[{}]", item.number)
            } else {
                item.number.clone()
            });
        }
        if !p.next.is_empty() {
            out.push(">".to_owned());
        }
        out.join(" ")
    }

    fn of(page: i64, last: i64) -> String {
        shown(&Pagination::new(page, last, |n| format!("?page={n}")))
    }

    #[test]
    fn first_last_and_one_either_side_with_ellipses_between() {
        assert_eq!(of(1, 1), "");
        assert_eq!(of(1, 2), "[1] 2 >");
        assert_eq!(of(2, 2), "< 1 [2]");
        assert_eq!(of(1, 3), "[1] 2 3 >");
        assert_eq!(of(1, 9), "[1] 2 … 9 >");
        assert_eq!(of(3, 9), "< 1 2 [3] 4 … 9 >");
        assert_eq!(of(5, 9), "< 1 … 4 [5] 6 … 9 >");
        assert_eq!(of(7, 9), "< 1 … 6 [7] 8 9 >");
        assert_eq!(of(9, 9), "< 1 … 8 [9]");
        // A gap of one page shows that page, never an ellipsis for it.
        assert_eq!(of(4, 7), "< 1 2 3 [4] 5 6 7 >");
        assert_eq!(of(5, 5), "< 1 … 4 [5]");
    }

    #[test]
    fn links_are_the_lists_own_and_only_the_current_page_is_current() {
        let p = Pagination::new(2, 3, |n| format!("/users?q=a&page={n}"));
        assert_eq!(p.previous, "/users?q=a&page=1");
        assert_eq!(p.next, "/users?q=a&page=3");
        let hrefs: Vec<&str> = p.items.iter().map(|i| i.href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "/users?q=a&page=1",
                "/users?q=a&page=2",
                "/users?q=a&page=3"
            ]
        );
        assert_eq!(p.items.iter().filter(|i| i.current).count(), 1);
    }

    #[test]
    fn an_open_ended_list_ends_with_an_ellipsis_while_there_is_more() {
        let open = |page, more| shown(&Pagination::open_ended(page, more, |n| n.to_string()));
        assert_eq!(open(1, false), "");
        assert_eq!(open(1, true), "[1] 2 … >");
        assert_eq!(open(4, true), "< 1 2 3 [4] 5 … >");
        assert_eq!(open(6, true), "< 1 … 5 [6] 7 … >");
        assert_eq!(open(6, false), "< 1 … 5 [6]");
    }

    #[test]
    fn showing_counts_from_one_and_says_one_user() {
        assert_eq!(
            showing(1, 25, 1, 1, ("user", "users")),
            "Showing 1 to 1 of 1 user"
        );
        assert_eq!(
            showing(2, 25, 25, 201, ("user", "users")),
            "Showing 26 to 50 of 201 users"
        );
        assert_eq!(showing(1, 25, 0, 0, ("user", "users")), "");
    }

    #[test]
    fn last_page_is_at_least_one() {
        assert_eq!(last_page(0, 25), 1);
        assert_eq!(last_page(25, 25), 1);
        assert_eq!(last_page(26, 25), 2);
        assert_eq!(last_page(201, 25), 9);
    }
}
