//! The role changes staged on Edit user (seed 001), carried in its address
//! (`?add=…&remove=…`): the whole journey works without JavaScript, the lookup
//! is its own page whose form adds to that address, and only Submit changes
//! anything. Each control on the page links to the address with one role
//! toggled ([`Staged::toggled`]).

use crate::pages::forms::encode;

/// `path` with `query` (none when empty): the address of a page with what is staged.
pub(super) fn staged_href(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// Changes staged on the edit page, carried in its address.
#[derive(Debug, Clone, Default)]
pub(super) struct Staged {
    pub(super) add: Vec<String>,
    pub(super) remove: Vec<String>,
}

impl Staged {
    pub(super) fn from(pairs: &[(String, String)]) -> Self {
        let mut s = Staged::default();
        for (k, v) in pairs {
            let list = match k.as_str() {
                "add" => &mut s.add,
                "remove" => &mut s.remove,
                _ => continue,
            };
            if !list.contains(v) {
                list.push(v.clone());
            }
        }
        s
    }

    pub(super) fn query(&self) -> String {
        let mut p: Vec<(&str, &str)> = self.add.iter().map(|a| ("add", a.as_str())).collect();
        p.extend(self.remove.iter().map(|r| ("remove", r.as_str())));
        encode(&p)
    }

    pub(super) fn toggled(&self, list: &str, role: &str) -> String {
        let mut s = self.clone();
        let l = if list == "add" {
            &mut s.add
        } else {
            &mut s.remove
        };
        if let Some(i) = l.iter().position(|r| r == role) {
            l.remove(i);
        } else {
            l.push(role.to_owned());
        }
        s.query()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::{Staged, staged_href};
    use crate::pages::forms::pairs;

    /// Undoing the only staged change leads to the page with nothing staged
    /// (issue 15, item 1: the last Undo was missing, its query being empty).
    #[test]
    fn the_address_with_nothing_staged_is_the_bare_page() {
        let one = read("add=portal-admin".into());
        assert_eq!(
            staged_href("/users/x", &one.toggled("add", "portal-admin")),
            "/users/x"
        );
        assert_eq!(
            staged_href("/users/x", &one.query()),
            "/users/x?add=portal-admin"
        );
    }

    /// The staged state the page reads back from an address it made.
    fn read(query: String) -> Staged {
        Staged::from(&pairs(Some(query)))
    }

    fn list(roles: &[&str]) -> Vec<String> {
        roles.iter().map(|r| (*r).to_owned()).collect()
    }

    #[test]
    fn nothing_staged_is_empty_and_has_an_empty_query() {
        let s = Staged::default();
        assert!(s.is_empty());
        assert_eq!(s.query(), "");
        assert!(!read("remove=portal-admin".into()).is_empty());
        assert!(!read("add=portal-admin".into()).is_empty());
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let s = read("saved=1&q=admin&add=regulator-admin&unlocked=1&Add=portal-admin".into());
        assert_eq!(s.add, list(&["regulator-admin"]));
        assert!(s.remove.is_empty());
        assert!(read("saved=1&q=admin".into()).is_empty());
        assert_eq!(s.query(), "add=regulator-admin");
    }

    #[test]
    fn a_role_named_twice_in_a_list_is_staged_once() {
        let s = read("add=portal-admin&remove=regulator-admin&add=portal-admin".into());
        assert_eq!(s.add, list(&["portal-admin"]));
        assert_eq!(s.remove, list(&["regulator-admin"]));
    }

    #[test]
    fn the_query_round_trips_in_order() {
        let s = Staged {
            add: list(&["portal-admin", "area-member:returns"]),
            remove: list(&["regulator-officer:returns"]),
        };
        let q = s.query();
        assert_eq!(
            q,
            "add=portal-admin&add=area-member%3Areturns&remove=regulator-officer%3Areturns"
        );
        let back = read(q);
        assert_eq!(back.add, s.add);
        assert_eq!(back.remove, s.remove);
    }

    #[test]
    fn staging_a_role_then_toggling_it_again_cancels_out() {
        for which in ["add", "remove"] {
            let start = read("remove=regulator-admin".into());
            let once = read(start.toggled(which, "portal-admin"));
            let staged = if which == "add" {
                &once.add
            } else {
                &once.remove
            };
            assert!(staged.contains(&"portal-admin".to_owned()), "{which}");
            let twice = once.toggled(which, "portal-admin");
            assert_eq!(twice, "remove=regulator-admin", "{which}");
            // Toggling answers an address; the state it was asked of is unchanged.
            assert_eq!(start.query(), "remove=regulator-admin");
        }
    }

    #[test]
    fn toggling_a_staged_role_keeps_the_other_changes() {
        let s = read("add=portal-admin&add=regulator-admin&remove=area-member%3Areturns".into());
        assert_eq!(
            s.toggled("add", "portal-admin"),
            "add=regulator-admin&remove=area-member%3Areturns"
        );
        assert_eq!(
            s.toggled("remove", "area-member:returns"),
            "add=portal-admin&add=regulator-admin"
        );
    }

    /// `Staged` itself does not stop a role from being in both lists: Edit
    /// user settles it by what the user holds (a held role shows as removed,
    /// one not held as added), and a refused Submit restages from the form as
    /// two disjoint lists.
    #[test]
    fn a_role_in_both_lists_is_kept_in_both_and_the_page_decides() {
        let s = read("add=portal-admin&remove=portal-admin".into());
        assert_eq!(s.add, list(&["portal-admin"]));
        assert_eq!(s.remove, list(&["portal-admin"]));
        let added = read("add=portal-admin".into());
        assert_eq!(
            added.toggled("remove", "portal-admin"),
            "add=portal-admin&remove=portal-admin"
        );
    }
}
