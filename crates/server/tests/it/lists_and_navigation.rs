//! Issue 15, item 7 and part of item 8: the service navigation marks the
//! current section; every paged list is numbered with the GOV.UK pagination
//! component and keeps its filters from page to page; User management sorts by
//! name, last signed in and status, both ways, in the database, with ties in a
//! stable order; the regulator's organisation page searches and pages its users.

use domain::{EmailAddress, OrgId, OrganisationKind, Role, Ukprn, UserId};
use regex::Regex;
use store::{NewOrganisation, NewRoleGrant, NewUser};
use testkit::TestApp;
use time::macros::datetime;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    every_section_marks_itself_in_the_navigation_and_its_pages_mark_it_too,
    user_management_is_numbered_with_ellipses_and_keeps_its_filters,
    user_management_sorts_by_each_column_both_ways_with_ties_by_name,
    ties_never_repeat_or_skip_a_user_from_page_to_page,
    unknown_or_malicious_sort_values_fall_back_to_name_order,
    the_organisation_page_searches_and_pages_its_users,
    activity_and_the_organisations_list_are_numbered_and_keep_filters,
    an_areas_users_are_numbered_too,
);

/// `&#38;` and `&amp;` as `&`: an address as the browser follows it.
fn unescape(s: &str) -> String {
    s.replace("&#38;", "&").replace("&amp;", "&")
}

/// The service navigation's current item, as (href, aria-current), and how
/// many items are marked active.
fn active_nav(body: &str) -> (Vec<(String, String)>, usize) {
    let start = body
        .find("govuk-service-navigation__list")
        .expect("a service navigation");
    let end = start + body[start..].find("</ul>").unwrap();
    let nav = &body[start..end];
    let items = Regex::new(
        r#"(?s)<li class="govuk-service-navigation__item govuk-service-navigation__item--active">\s*<a class="govuk-service-navigation__link" href="([^"]+)" aria-current="(page|true)">\s*<strong class="govuk-service-navigation__active-fallback">"#,
    )
    .unwrap();
    let found: Vec<(String, String)> = items
        .captures_iter(nav)
        .map(|c| (c[1].to_owned(), c[2].to_owned()))
        .collect();
    (found, nav.matches("--active").count())
}

/// The service navigation's links, in order.
fn nav_hrefs(body: &str) -> Vec<String> {
    let start = body.find("govuk-service-navigation__list").unwrap();
    let end = start + body[start..].find("</ul>").unwrap();
    Regex::new(r#"class="govuk-service-navigation__link" href="([^"]+)""#)
        .unwrap()
        .captures_iter(&body[start..end])
        .map(|c| c[1].to_owned())
        .collect()
}

/// A page's pagination as text: "1", "[2]" for the current page, "…" for an
/// ellipsis, with "prev" / "next" around them; and every link's address.
fn pagination(body: &str) -> (Vec<String>, Vec<String>) {
    let Some(start) = body.find("<nav class=\"govuk-pagination") else {
        return (Vec::new(), Vec::new());
    };
    let end = start + body[start..].find("</nav>").unwrap();
    let nav = &body[start..end];
    let part = Regex::new(
        r#"(?s)rel="(prev|next)"|<li class="govuk-pagination__item govuk-pagination__item--ellipsis">|<a class="govuk-link govuk-pagination__link" href="[^"]*" aria-label="Page (\d+)"( aria-current="page")?"#,
    )
    .unwrap();
    let items = part
        .captures_iter(nav)
        .map(|c| {
            if let Some(rel) = c.get(1) {
                rel.as_str().to_owned()
            } else if let Some(n) = c.get(2) {
                if c.get(3).is_some() {
                    format!("[{}]", n.as_str())
                } else {
                    n.as_str().to_owned()
                }
            } else {
                "…".to_owned()
            }
        })
        .collect();
    let hrefs = Regex::new(r#"href="([^"]+)""#)
        .unwrap()
        .captures_iter(nav)
        .map(|c| unescape(&c[1]))
        .collect();
    (items, hrefs)
}

/// The address of the link `rel="next"` / `"prev"`, or of page `n`.
fn link_to(body: &str, which: &str) -> String {
    let (_, hrefs) = pagination(body);
    let start = body.find("<nav class=\"govuk-pagination").unwrap();
    let nav = &body[start..start + body[start..].find("</nav>").unwrap()];
    let pattern = if which == "prev" || which == "next" {
        format!(r#"href="([^"]+)" rel="{which}""#)
    } else {
        format!(r#"href="([^"]+)" aria-label="Page {which}""#)
    };
    let found = Regex::new(&pattern)
        .unwrap()
        .captures(nav)
        .unwrap_or_else(|| panic!("no {which} link in {hrefs:?}"))[1]
        .to_owned();
    unescape(&found)
}

/// The addresses listed on a page, in order, that end with `domain`.
fn emails(body: &str, domain: &str) -> Vec<String> {
    let main = &body[body.find("<main").unwrap()..];
    Regex::new(&format!(r"[a-z0-9.\-]+@{}", regex::escape(domain)))
        .unwrap()
        .find_iter(main)
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// The `aria-sort` of each sortable column, as (column text, value).
fn aria_sorts(body: &str) -> Vec<(String, String)> {
    Regex::new(
        r#"(?s)<th scope="col" class="govuk-table__header" aria-sort="(\w+)">\s*<a [^>]*>([^<]+)<"#,
    )
    .unwrap()
    .captures_iter(body)
    .map(|c| (c[2].trim().to_owned(), c[1].to_owned()))
    .collect()
}

/// The link of a sortable column's heading.
fn sort_link(body: &str, column: &str) -> String {
    let found = Regex::new(&format!(
        r#"(?s)<th scope="col" class="govuk-table__header" aria-sort="\w+">\s*<a [^>]*href="([^"]+)"[^>]*>{}<"#,
        regex::escape(column)
    ))
    .unwrap()
    .captures(body)
    .unwrap_or_else(|| panic!("no sort link for {column}"))[1]
        .to_owned();
    unescape(&found)
}

/// The id of the organisation of `email`'s user.
async fn org_of(app: &TestApp, email: &str) -> OrgId {
    app.user_record(email).await.organisation_id
}

/// Adds users straight to the store (no emails): (first, last, email).
async fn add_people(app: &TestApp, org: OrgId, people: &[(String, String, String)]) -> Vec<UserId> {
    let mut tx = app.store().begin().await.unwrap();
    let mut ids = Vec::new();
    for (first, last, email) in people {
        let id = UserId::random();
        tx.insert_user(&NewUser {
            id,
            organisation_id: org,
            title: String::new(),
            first_name: first.clone(),
            last_name: last.clone(),
            email: EmailAddress::parse(email).unwrap(),
            created_at: datetime!(2026-01-01 00:00 UTC),
            created_by: None,
        })
        .await
        .unwrap();
        ids.push(id);
    }
    tx.commit().await.unwrap();
    ids
}

/// `n` people named "Member NNN" at `domain`.
fn members(n: usize, domain: &str) -> Vec<(String, String, String)> {
    (1..=n)
        .map(|i| {
            (
                "Member".to_owned(),
                format!("M{i:03}"),
                format!("m{i:03}@{domain}"),
            )
        })
        .collect()
}

async fn every_section_marks_itself_in_the_navigation_and_its_pages_mark_it_too(app: TestApp) {
    let admin = app
        .regulator_user("nav@ofs.example.org", &["regulator-admin"])
        .await;
    let provider = app
        .user("10000201", "pa@nav.example.ac.uk", &["portal-admin"])
        .await;
    let colleague = app.user_record(&provider).await.id;
    let org = org_of(&app, &provider).await;
    let mut b = page_sign_in(&app, &admin).await;
    let home = b.get("/home").await.body;
    let sections = nav_hrefs(&home);
    for expected in [
        "/home",
        "/collections",
        "/documents",
        "/organisations",
        "/users",
        "/areas",
        "/activity",
    ] {
        assert!(
            sections.iter().any(|s| s == expected),
            "{expected} in {sections:?}"
        );
    }
    // Account links are the header's; Access keys are part of Areas (so that
    // the navigation fits one row), and the Areas page leads to them.
    for elsewhere in ["/account", "/access-keys", "/dev/mail"] {
        assert!(
            !sections.iter().any(|s| s == elsewhere),
            "{elsewhere} in {sections:?}"
        );
    }
    assert!(
        b.get("/areas")
            .await
            .body
            .contains(r#"<a class="govuk-link" href="/access-keys">Access keys</a>"#)
    );
    // Each section's own page: that item, and only it, is the current page.
    for section in &sections {
        let r = b.get(section).await;
        assert_eq!(r.status, 200, "{section}");
        let (active, marked) = active_nav(&r.body);
        assert_eq!(
            active,
            [(section.clone(), "page".to_owned())],
            "{section} marks itself"
        );
        assert_eq!(marked, 1, "{section}: one item is active");
    }
    // A page inside a section marks the section, as "true" (not the page).
    for (page, section) in [
        (format!("/users/{colleague}"), "/users"),
        ("/users/add".to_owned(), "/users"),
        (format!("/organisations/{org}"), "/organisations"),
        ("/organisations/add".to_owned(), "/organisations"),
        ("/users/roles-guidance".to_owned(), "/users"),
        ("/access-keys".to_owned(), "/areas"),
        ("/access-keys/new".to_owned(), "/areas"),
    ] {
        let r = b.get(&page).await;
        assert_eq!(r.status, 200, "{page}");
        assert_eq!(
            active_nav(&r.body).0,
            [(section.to_owned(), "true".to_owned())],
            "{page} is in {section}"
        );
    }
    // My account is marked where it is (the header's account links).
    let account = b.get("/account").await.body;
    assert_eq!(active_nav(&account).1, 0, "no service section is current");
    assert!(
        Regex::new(
            r#"<a class="[^"]*portal-account-nav__link[^"]*" href="/account" aria-current="page">"#
        )
        .unwrap()
        .is_match(&account),
        "My account is the current page"
    );
    // A page outside every section marks none.
    assert_eq!(active_nav(&b.get("/feedback").await.body).1, 0);
}

async fn user_management_is_numbered_with_ellipses_and_keeps_its_filters(app: TestApp) {
    let pa = app
        .user("10000202", "admin@pages.example.ac.uk", &["portal-admin"])
        .await;
    let org = org_of(&app, &pa).await;
    // 200 members and the administrator: 201 users, 9 pages of 25.
    add_people(&app, org, &members(200, "pages.example.ac.uk")).await;
    let mut b = page_sign_in(&app, &pa).await;
    let first = b.get("/users").await.body;
    assert_eq!(pagination(&first).0, ["[1]", "2", "…", "9", "next"]);
    assert!(first.contains("Showing 1 to 25 of 201 users"));
    let fourth = b.get("/users?page=4").await.body;
    let fifth = b.get(&link_to(&fourth, "5")).await.body;
    assert_eq!(
        pagination(&fifth).0,
        ["prev", "1", "…", "4", "[5]", "6", "…", "9", "next"]
    );
    assert!(fifth.contains("aria-current=\"page\""));
    let last = b.get("/users?page=9").await.body;
    assert_eq!(pagination(&last).0, ["prev", "1", "…", "8", "[9]"]);
    assert_eq!(emails(&last, "pages.example.ac.uk").len(), 1);
    // Beyond the last page: the last page.
    let r = b.get("/users?page=99").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), Some("/users?page=9"));
    let third = b.get("/users?page=3").await.body;
    assert_eq!(
        pagination(&third).0,
        ["prev", "1", "2", "[3]", "4", "…", "9", "next"]
    );

    // Search, role filter and sort are kept by every page link and by sorting.
    let searched = b
        .get("/users?q=member&role=&sort=name&order=descending")
        .await
        .body;
    assert!(searched.contains("Showing 1 to 25 of 200 users"));
    let (items, hrefs) = pagination(&searched);
    assert_eq!(items, ["[1]", "2", "…", "8", "next"]);
    for href in &hrefs {
        assert!(
            href.starts_with("/users?")
                && href.contains("q=member")
                && href.contains("sort=name")
                && href.contains("order=descending"),
            "{href}"
        );
    }
    let page_two = b.get(&link_to(&searched, "next")).await.body;
    assert_eq!(
        emails(&page_two, "pages.example.ac.uk")[0],
        "m175@pages.example.ac.uk",
        "page 2 of the descending search"
    );
    // The search form carries the sort, so searching again keeps it.
    assert!(page_two.contains(r#"<input type="hidden" name="sort" value="name">"#));
    assert!(page_two.contains(r#"<input type="hidden" name="order" value="descending">"#));
    // A sort link keeps the search and goes back to the first page.
    let by_status = sort_link(&page_two, "Status");
    assert!(
        by_status.contains("q=member") && !by_status.contains("page="),
        "{by_status}"
    );
    // The CSV download is of the same search, in the same order.
    let csv_link = Regex::new(r#"href="(/users\.csv\?[^"]+)""#)
        .unwrap()
        .captures(&page_two)
        .unwrap()[1]
        .to_owned();
    let csv_link = unescape(&csv_link);
    assert!(
        csv_link.contains("q=member") && csv_link.contains("order=descending"),
        "{csv_link}"
    );
    let csv = b.get(&csv_link).await.body;
    let first_row = csv.lines().nth(1).unwrap();
    assert!(
        first_row.contains("m200@pages.example.ac.uk"),
        "{first_row}"
    );

    // One page only: no pagination at all.
    let one = b.get("/users?q=m001").await.body;
    assert_eq!(pagination(&one).0, Vec::<String>::new());
}

async fn user_management_sorts_by_each_column_both_ways_with_ties_by_name(app: TestApp) {
    let d = "sort.example.ac.uk";
    let pa = app
        .user("10000203", &format!("admin@{d}"), &["portal-admin"])
        .await;
    let org = org_of(&app, &pa).await;
    let people: Vec<(String, String, String)> = [
        ("Ada", "Lovelace", "ada"),
        ("Charles", "Babbage", "charles"),
        ("Grace", "Hopper", "grace"),
        ("Alan", "Turing", "alan"),
        ("Edsger", "Dijkstra", "edsger"),
        ("Barbara", "Liskov", "barbara"),
        ("Ada", "Lovelace", "ada2"),
    ]
    .iter()
    .map(|(f, l, e)| (f.to_string(), l.to_string(), format!("{e}@{d}")))
    .collect();
    let ids = add_people(&app, org, &people).await;
    let (ada, _charles, grace, alan, edsger, barbara, ada2) =
        (ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], ids[6]);
    let mut tx = app.store().begin().await.unwrap();
    tx.record_sign_in(ada, datetime!(2026-08-01 10:00 UTC))
        .await
        .unwrap();
    tx.record_sign_in(barbara, datetime!(2026-08-01 10:00 UTC))
        .await
        .unwrap();
    tx.record_sign_in(grace, datetime!(2026-08-20 10:00 UTC))
        .await
        .unwrap();
    tx.set_access(grace, false).await.unwrap();
    tx.record_sign_in(alan, datetime!(2026-07-01 10:00 UTC))
        .await
        .unwrap();
    tx.lock_account(alan).await.unwrap();
    tx.record_sign_in(edsger, datetime!(2026-06-01 10:00 UTC))
        .await
        .unwrap();
    tx.set_expiry(edsger, Some(datetime!(2026-08-31 00:00 UTC)))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // The two Ada Lovelaces tie on name: the one with the smaller id first.
    let (first_ada, second_ada) = if ada.0 < ada2.0 {
        ("ada", "ada2")
    } else {
        ("ada2", "ada")
    };
    let mut b = page_sign_in(&app, &pa).await; // admin: signed in at 2026-09-01 09:00
    let short = |body: &str| -> Vec<String> {
        emails(body, d)
            .into_iter()
            .map(|e| e.split('@').next().unwrap().to_owned())
            .collect()
    };
    let cases: [SortCase; 6] = [
        (
            "name",
            "ascending",
            vec![
                "charles", "edsger", "grace", "barbara", first_ada, second_ada, "admin", "alan",
            ],
            [
                ("User", "ascending"),
                ("Last logged in", "none"),
                ("Status", "none"),
            ],
        ),
        (
            "name",
            "descending",
            vec![
                "alan", "admin", second_ada, first_ada, "barbara", "grace", "edsger", "charles",
            ],
            [
                ("User", "descending"),
                ("Last logged in", "none"),
                ("Status", "none"),
            ],
        ),
        (
            "last-signed-in",
            "ascending",
            // Never first (Ada 2 never signed in), then oldest; ties by name.
            vec![
                "charles", "ada2", "edsger", "alan", "barbara", "ada", "grace", "admin",
            ],
            [
                ("User", "none"),
                ("Last logged in", "ascending"),
                ("Status", "none"),
            ],
        ),
        (
            "last-signed-in",
            "descending",
            vec![
                "admin", "grace", "barbara", "ada", "alan", "edsger", "charles", "ada2",
            ],
            [
                ("User", "none"),
                ("Last logged in", "descending"),
                ("Status", "none"),
            ],
        ),
        (
            "status",
            "ascending",
            // Access disabled, Active, Expired, Invited, Locked; ties by name.
            vec![
                "grace", "barbara", "ada", "admin", "edsger", "charles", "ada2", "alan",
            ],
            [
                ("User", "none"),
                ("Last logged in", "none"),
                ("Status", "ascending"),
            ],
        ),
        (
            "status",
            "descending",
            vec![
                "alan", "charles", "ada2", "edsger", "barbara", "ada", "admin", "grace",
            ],
            [
                ("User", "none"),
                ("Last logged in", "none"),
                ("Status", "descending"),
            ],
        ),
    ];
    for (sort, direction, expected, sorts) in cases {
        let body = b
            .get(&format!("/users?sort={sort}&order={direction}"))
            .await
            .body;
        assert_eq!(short(&body), expected, "sort={sort}&order={direction}");
        let want: Vec<(String, String)> = sorts
            .iter()
            .map(|(c, s)| (c.to_string(), s.to_string()))
            .collect();
        assert_eq!(aria_sorts(&body), want, "aria-sort for {sort} {direction}");
        // The sorted column's link turns it around; the others sort ascending.
        let flip = if direction == "ascending" {
            "descending"
        } else {
            "ascending"
        };
        let column = match sort {
            "name" => "User",
            "last-signed-in" => "Last logged in",
            _ => "Status",
        };
        let link = sort_link(&body, column);
        assert!(
            link.contains(&format!("sort={sort}")) && link.contains(&format!("order={flip}")),
            "{link}"
        );
        for other in ["User", "Last logged in", "Status"]
            .iter()
            .filter(|c| **c != column)
        {
            assert!(
                sort_link(&body, other).contains("order=ascending"),
                "{other}"
            );
        }
    }
    // Without a sort: by name, the User column marked ascending.
    let plain = b.get("/users").await.body;
    assert_eq!(short(&plain), cases_default(first_ada, second_ada));
    assert_eq!(
        aria_sorts(&plain)[0],
        ("User".to_owned(), "ascending".to_owned())
    );
}

/// (sort, order, the addresses' names in order, each column's aria-sort).
type SortCase<'a> = (&'a str, &'a str, Vec<&'a str>, [(&'a str, &'a str); 3]);

fn cases_default<'a>(first_ada: &'a str, second_ada: &'a str) -> Vec<&'a str> {
    vec![
        "charles", "edsger", "grace", "barbara", first_ada, second_ada, "admin", "alan",
    ]
}

async fn ties_never_repeat_or_skip_a_user_from_page_to_page(app: TestApp) {
    let d = "ties.example.ac.uk";
    let pa = app
        .user("10000204", &format!("admin@{d}"), &["portal-admin"])
        .await;
    let org = org_of(&app, &pa).await;
    // 60 people with the same name, never signed in: every column ties.
    let same: Vec<(String, String, String)> = (1..=60)
        .map(|i| ("Sam".to_owned(), "Same".to_owned(), format!("s{i:02}@{d}")))
        .collect();
    add_people(&app, org, &same).await;
    let mut b = page_sign_in(&app, &pa).await;
    for sort in ["name", "last-signed-in", "status"] {
        for order in ["ascending", "descending"] {
            let mut seen = Vec::new();
            for page in 1..=3 {
                let body = b
                    .get(&format!("/users?sort={sort}&order={order}&page={page}"))
                    .await
                    .body;
                seen.extend(emails(&body, d));
            }
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(seen.len(), 61, "{sort} {order}: {seen:?}");
            assert_eq!(unique.len(), 61, "{sort} {order}: no one twice");
        }
    }
}

async fn unknown_or_malicious_sort_values_fall_back_to_name_order(app: TestApp) {
    let d = "evil.example.ac.uk";
    let pa = app
        .user("10000205", &format!("admin@{d}"), &["portal-admin"])
        .await;
    let org = org_of(&app, &pa).await;
    add_people(
        &app,
        org,
        &[
            ("Zed".into(), "Zulu".into(), format!("zed@{d}")),
            ("Amy".into(), "Alpha".into(), format!("amy@{d}")),
        ],
    )
    .await;
    let mut b = page_sign_in(&app, &pa).await;
    let before = app.snapshot().await;
    let by_name = emails(&b.get("/users").await.body, d);
    for query in [
        "sort=name;DROP%20TABLE%20users&order=descending",
        "sort=u.email_norm%20DESC%20--",
        "sort=1&order=ascending",
        "sort=last_signed_in_at)%20UNION%20SELECT%201--",
        "sort=Name",
        "sort=name&order=DESC",
        "sort=name&order=descending;%20DELETE%20FROM%20users",
        "sort=&order=",
        "sort=name%27&order=descending%27",
    ] {
        let r = b.get(&format!("/users?{query}")).await;
        assert_eq!(r.status, 200, "{query}");
        assert_eq!(emails(&r.body, d), by_name, "{query}");
        assert_eq!(
            aria_sorts(&r.body)[0],
            ("User".to_owned(), "ascending".to_owned()),
            "{query}: the default order"
        );
        // The value is never echoed into a link.
        assert!(
            !r.body.contains("DROP") && !r.body.contains("UNION") && !r.body.contains("DELETE")
        );
    }
    // Alpha, Person (the administrator), Zulu.
    assert_eq!(
        by_name,
        [format!("amy@{d}"), format!("admin@{d}"), format!("zed@{d}")]
    );
    assert_eq!(
        app.snapshot().await["users"],
        before["users"],
        "nothing changed"
    );
}

async fn the_organisation_page_searches_and_pages_its_users(app: TestApp) {
    let d = "orgusers.example.ac.uk";
    let regulator = app
        .regulator_user("orgs@ofs.example.org", &["regulator-admin"])
        .await;
    let pa = app
        .user("10000206", &format!("admin@{d}"), &["portal-admin"])
        .await;
    let org = org_of(&app, &pa).await;
    add_people(&app, org, &members(30, d)).await;
    let mut b = page_sign_in(&app, &regulator).await;
    let page = format!("/organisations/{org}");
    let first = b.get(&page).await.body;
    assert!(first.contains("Showing 1 to 25 of 31 users"), "{first}");
    assert_eq!(emails(&first, d).len(), 25);
    assert_eq!(pagination(&first).0, ["[1]", "2", "next"]);
    let second = b.get(&link_to(&first, "next")).await.body;
    assert_eq!(pagination(&second).0, ["prev", "1", "[2]"]);
    // 31 by last name: M001…M030, then the administrator ("Person").
    assert_eq!(
        emails(&second, d),
        ["m026", "m027", "m028", "m029", "m030", "admin"].map(|e| format!("{e}@{d}"))
    );
    // The search box: by name or email, its own label, and kept by paging.
    assert!(first.contains(r#"<form method="get" action="/organisations/"#));
    assert!(first.contains(r#"<label class="govuk-label" for="q">"#));
    let found = b.get(&format!("{page}?q=m02")).await.body;
    assert_eq!(
        emails(&found, d),
        (20..=29)
            .map(|i| format!("m{i:03}@{d}"))
            .collect::<Vec<_>>()
    );
    assert!(found.contains("Showing 1 to 10 of 10 users"), "{found}");
    assert_eq!(pagination(&found).0, Vec::<String>::new(), "one page");
    add_people(&app, org, &members(60, &format!("x.{d}"))).await;
    let many = b.get(&format!("{page}?q=member")).await.body;
    let (items, hrefs) = pagination(&many);
    assert_eq!(items, ["[1]", "2", "3", "4", "next"]);
    for href in hrefs {
        assert!(
            href.starts_with(&format!("{page}?")) && href.contains("q=member"),
            "{href}"
        );
    }
    let none = b.get(&format!("{page}?q=nobody")).await.body;
    assert!(none.contains("No users match your search"), "{none}");
    // The invitation form is still there, after the list.
    assert!(none.contains("Send invitation"));
}

async fn activity_and_the_organisations_list_are_numbered_and_keep_filters(app: TestApp) {
    let regulator = app
        .regulator_user("pages@ofs.example.org", &["regulator-admin"])
        .await;
    // 120 organisations more: 3 pages of 50.
    let mut tx = app.store().begin().await.unwrap();
    let orgs: Vec<NewOrganisation> = (0..120)
        .map(|i| NewOrganisation {
            id: OrgId::random(),
            kind: OrganisationKind::Provider,
            name: format!("Provider {i:03}"),
            ukprn: Some(Ukprn::parse(&format!("10{:06}", 300 + i)).unwrap()),
            accountable_officer_name: None,
            accountable_officer_email: None,
            created_at: datetime!(2026-01-01 00:00 UTC),
        })
        .collect();
    tx.insert_organisations(&orgs).await.unwrap();
    tx.commit().await.unwrap();
    let mut b = page_sign_in(&app, &regulator).await;
    let list = b.get("/organisations").await.body;
    assert_eq!(pagination(&list).0, ["[1]", "2", "3", "next"]);
    let second = b.get(&link_to(&list, "2")).await.body;
    assert_eq!(pagination(&second).0, ["prev", "1", "[2]", "3", "next"]);
    assert_eq!(link_to(&second, "3"), "/organisations?page=3");

    // Activity: 130 refused look-ups by this person, filtered by them.
    for _ in 0..130 {
        b.get("/users/not-an-id").await;
    }
    let filtered = b
        .get("/activity?person=pages%40ofs.example.org&action=")
        .await
        .body;
    let (items, hrefs) = pagination(&filtered);
    assert_eq!(items[..2], ["[1]", "2"], "{items:?}");
    assert_eq!(items.last().map(String::as_str), Some("next"));
    for href in &hrefs {
        assert!(
            href.starts_with("/activity?") && href.contains("person=pages%40ofs.example.org"),
            "{href}"
        );
    }
    let next = b.get(&link_to(&filtered, "next")).await.body;
    assert!(pagination(&next).0.contains(&"[2]".to_owned()));
    assert!(
        next.contains("value=\"pages@ofs.example.org\""),
        "the filter is kept"
    );
    // Beyond the last page: the last page, filters kept, rather than an
    // empty page numbered up to the one asked for.
    let r = b
        .get("/activity?person=pages%40ofs.example.org&action=&page=99")
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.location().unwrap().to_owned();
    assert!(
        to.starts_with("/activity?") && to.contains("person=pages%40ofs.example.org"),
        "{to}"
    );
    let last = b.get(&to).await.body;
    let (items, _) = pagination(&last);
    assert_eq!(items.first().map(String::as_str), Some("prev"), "{items:?}");
    assert!(
        items.last().is_some_and(|i| i.starts_with('[')),
        "the last page is current and has no next: {items:?}"
    );
    assert!(!items.contains(&"[99]".to_owned()), "{items:?}");
    assert!(last.contains("Showing "), "the last page has rows");
}

async fn an_areas_users_are_numbered_too(app: TestApp) {
    let d = "area.example.ac.uk";
    let pa = app
        .user("10000207", &format!("admin@{d}"), &["portal-admin"])
        .await;
    let org = org_of(&app, &pa).await;
    let ids = add_people(&app, org, &members(30, d)).await;
    let mut tx = app.store().begin().await.unwrap();
    for id in ids {
        tx.grant_role(&NewRoleGrant {
            user_id: id,
            role: Role::parse("data-collection-contributor:heses").unwrap(),
            granted_by: None,
            granted_at: datetime!(2026-01-01 00:00 UTC),
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut b = page_sign_in(&app, &pa).await;
    let first = b.get("/areas/heses").await.body;
    assert_eq!(pagination(&first).0, ["[1]", "2", "next"]);
    assert_eq!(link_to(&first, "next"), "/areas/heses?page=2");
    let second = b.get("/areas/heses?page=2").await.body;
    assert_eq!(pagination(&second).0, ["prev", "1", "[2]"]);
    assert_eq!(link_to(&second, "1"), "/areas/heses");
    // Beyond the last page: the last page.
    let r = b.get("/areas/heses?page=99").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), Some("/areas/heses?page=2"));
}
