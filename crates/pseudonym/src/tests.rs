//! Property tests: normalisation is idempotent, the variants each key is
//! designed to absorb give the same key, and a different secret shares no key.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

fn keys(seed: u8) -> Keys {
    Keys::derive(&SchemeSecret::new(1, [seed; 32]), "CSC")
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z]{2,10}", "[A-Za-zéèöüåø]{2,8}", Just("Bill".to_owned()), Just("Liz".to_owned()), Just("O'Brien".to_owned()),]
        // Placeholders ("Nk", "Xx") are no name, by design.
        .prop_filter("a name, not a placeholder", |name| !crate::normalise::is_placeholder_name(name, true) && !crate::normalise::is_missing(name))
}

fn date() -> impl Strategy<Value = Date> {
    (1950i32..2024, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| Date::new(y, m, d).expect("valid"))
}

fn identity(forename: &str, surname: &str, dob: Date, sex: &str, postcode: &str) -> NormalisedIdentity {
    normalise(&Identity {
        forename: Some(forename.to_owned()),
        surname: Some(surname.to_owned()),
        date_of_birth: Some(dob),
        sex: Some(sex.to_owned()),
        postcode: Some(postcode.to_owned()),
        nhs_number: None,
        ..Identity::default()
    })
    .0
}

fn keys_of(kind: MatchKeyKind, keys: &Keys, identity: &NormalisedIdentity) -> HashSet<[u8; 32]> {
    match_keys(keys, identity).into_iter().filter(|(k, _)| *k == kind).map(|(_, hash)| hash).collect()
}

fn shares(kind: MatchKeyKind, a: &NormalisedIdentity, b: &NormalisedIdentity) -> bool {
    let keys = keys(9);
    !keys_of(kind, &keys, a).is_disjoint(&keys_of(kind, &keys, b))
}

proptest! {
    #[test]
    fn normalisation_is_idempotent(text in "\\PC{0,24}") {
        let once = fold_text(&text);
        prop_assert_eq!(fold_text(&once), once.clone());
        if let Some(forename) = normalise_forename(&text) {
            prop_assert_eq!(normalise_forename(&forename), Some(forename.clone()));
        }
        if let Some((joined, parts)) = normalise_surname(&text) {
            let again = normalise_surname(&parts.join(" "));
            prop_assert_eq!(again.map(|(j, _)| j), Some(joined));
        }
    }

    #[test]
    fn postcode_normalisation_is_idempotent(
        outward in "[A-Z]{1,2}[0-9]{1,2}", inward in "[0-9][A-Z]{2}", spaces in " {0,3}"
    ) {
        let text = format!("{}{spaces}{}", outward.to_lowercase(), inward);
        if let Some(postcode) = normalise_postcode(&text) {
            prop_assert_eq!(normalise_postcode(&postcode.full), Some(postcode.clone()));
            prop_assert_eq!(postcode.district, outward);
        }
    }

    #[test]
    fn case_accents_spacing_titles_and_punctuation_give_the_same_keys(
        forename in name(), surname in name(), dob in date()
    ) {
        let plain = identity(&forename, &surname, dob, "F", "LS6 1AA");
        let noisy = identity(
            &format!("  Miss {}. ", forename.to_uppercase()),
            &format!(" {} ", surname.to_lowercase()),
            dob,
            "female",
            "ls61aa",
        );
        let keys = keys(1);
        prop_assert_eq!(match_keys(&keys, &plain), match_keys(&keys, &noisy));
    }

    #[test]
    fn day_month_transposition_is_absorbed(
        forename in name(), surname in name(), y in 1990i32..2020, a in 1u32..=12, b in 1u32..=12
    ) {
        let one = identity(&forename, &surname, Date::new(y, a, b).expect("valid"), "M", "M1 1AE");
        let two = identity(&forename, &surname, Date::new(y, b, a).expect("valid"), "M", "M1 1AE");
        prop_assert!(shares(MatchKeyKind::NameDobTransposed, &one, &two));
    }

    #[test]
    fn forename_surname_swaps_are_absorbed(forename in name(), surname in name(), dob in date()) {
        let one = identity(&forename, &surname, dob, "M", "M1 1AE");
        let two = identity(&surname, &forename, dob, "M", "M1 1AE");
        prop_assert!(shares(MatchKeyKind::NamesAnyOrderDob, &one, &two));
    }

    #[test]
    fn double_barrelled_surnames_match_either_part(
        forename in name(), first in name(), second in name(), dob in date()
    ) {
        let full = identity(&forename, &format!("{first}-{second}"), dob, "F", "B33 8TH");
        let spaced = identity(&forename, &format!("{first} {second}"), dob, "F", "B33 8TH");
        let only_second = identity(&forename, &second, dob, "F", "B33 8TH");
        prop_assert!(shares(MatchKeyKind::NameDob, &full, &spaced));
        prop_assert!(shares(MatchKeyKind::NameSurnamePartDob, &full, &only_second));
    }

    #[test]
    fn surname_changes_and_wrong_birth_days_are_absorbed(
        forename in name(), surname in name(), other in name(), dob in date()
    ) {
        let one = identity(&forename, &surname, dob, "F", "DN55 1PT");
        let married = identity(&forename, &other, dob, "F", "DN55 9ZZ");
        prop_assert!(shares(MatchKeyKind::ForenameDobSexDistrict, &one, &married));
        let wrong_day = Date::new(dob.year, dob.month, if dob.day == 1 { 2 } else { 1 }).expect("valid");
        let two = identity(&forename, &surname, wrong_day, "F", "DN55 1PT");
        prop_assert!(shares(MatchKeyKind::NameYearDistrict, &one, &two));
    }

    #[test]
    fn a_different_secret_shares_no_key(forename in name(), surname in name(), dob in date()) {
        let person = identity(&forename, &surname, dob, "M", "CR2 6XH");
        let a: HashSet<[u8; 32]> = match_keys(&keys(1), &person).into_iter().map(|(_, h)| h).collect();
        let b: HashSet<[u8; 32]> = match_keys(&keys(2), &person).into_iter().map(|(_, h)| h).collect();
        prop_assert!(!a.is_empty());
        prop_assert!(a.is_disjoint(&b));
        let bloom_a = bloom::encode(&keys(1), &person, &BloomParams::default());
        let bloom_b = bloom::encode(&keys(2), &person, &BloomParams::default());
        prop_assert!(bloom::dice(&bloom_a, &bloom_b) < 0.7);
    }
}

#[test]
fn nicknames_resolve_to_one_canonical_form() {
    for (short, canonical) in nicknames::NICKNAMES {
        assert_eq!(normalise_forename(short).as_deref(), Some(*canonical));
        assert_eq!(normalise_forename(canonical).as_deref(), Some(*canonical), "{canonical} is itself a nickname");
    }
    let dob = Date::new(2010, 5, 4).expect("valid");
    let bill = identity("Bill", "Jones", dob, "M", "M1 1AE");
    let william = identity("William", "Jones", dob, "M", "M1 1AE");
    assert!(shares(MatchKeyKind::NameDob, &bill, &william));
}

#[test]
fn a_missing_component_means_no_key() {
    let keys = keys(1);
    let no_dob = normalise(&Identity { forename: Some("Amy".into()), surname: Some("Lee".into()), ..Identity::default() }).0;
    assert!(match_keys(&keys, &no_dob).is_empty());
    let nothing = NormalisedIdentity::default();
    assert!(match_keys(&keys, &nothing).is_empty());
    assert!(pseudonymise(&keys, &nothing).bloom.is_empty());
    let with_nhs = normalise(&Identity { nhs_number: Some("943 476 5919".into()), ..Identity::default() }).0;
    let kinds: Vec<MatchKeyKind> = match_keys(&keys, &with_nhs).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, [MatchKeyKind::NhsNumber]);
}

#[test]
fn siblings_and_twins_share_no_name_dob_key() {
    let dob = Date::new(2012, 6, 1).expect("valid");
    let a = identity("Olivia", "Khan", dob, "F", "B33 8TH");
    let b = identity("Amelia", "Khan", dob, "F", "B33 8TH");
    let keys = keys(1);
    let ka: HashSet<[u8; 32]> = match_keys(&keys, &a).into_iter().map(|(_, h)| h).collect();
    let kb: HashSet<[u8; 32]> = match_keys(&keys, &b).into_iter().map(|(_, h)| h).collect();
    assert!(ka.is_disjoint(&kb));
}

#[test]
fn similar_names_encode_closer_than_different_people() {
    let keys = keys(1);
    let dob = Date::new(2008, 2, 14).expect("valid");
    let params = BloomParams::default();
    let a = bloom::encode(&keys, &identity("Jessica", "Robinson", dob, "F", "LS6 1AA"), &params);
    let typo = bloom::encode(&keys, &identity("Jesica", "Robinsen", dob, "F", "LS6 1AA"), &params);
    let other = bloom::encode(&keys, &identity("Mohammed", "Ali", Date::new(2011, 9, 3).expect("valid"), "M", "M1 1AE"), &params);
    assert_eq!(a.len(), BLOOM_BITS / 8);
    let close = bloom::dice(&a, &typo);
    let far = bloom::dice(&a, &other);
    assert!(close > 0.8, "typo dice {close}");
    assert!(far < 0.5, "different-person dice {far}");
}
