//! Compile-time behaviour of `#[traced]`: every accepted form compiles
//! warning-free and runs (`tests/ui/pass`), every misuse is a compile error
//! pointing at the token to change (`tests/ui/fail`, with `.stderr` files).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
