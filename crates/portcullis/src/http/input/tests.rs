//! Messages checked against Better Auth 1.7.24 (the peer, with curl).
use super::*;
use serde_json::json;

struct SignUp;
impl Input for SignUp {
    const SHAPE: Shape = Shape::ObjectAndRecord;
    fn parse(o: &mut Obj<'_>) -> Self {
        o.string("name");
        o.email("email");
        o.nonempty("password");
        o.opt_string("image");
        o.opt_bool("rememberMe");
        SignUp
    }
}

struct Social;
impl Input for Social {
    fn parse(o: &mut Obj<'_>) -> Self {
        o.any_string("provider");
        o.opt_bool("disableRedirect");
        o.opt_object("idToken", |t| {
            t.string("token");
            t.opt_object("user", |u| u.opt_object("name", |n| n.opt_string("firstName")));
        });
        o.opt_strings("scopes");
        o.opt_string_record("additionalParams", |k| k != "state", "reserved");
        o.opt_record("additionalData");
        Social
    }
}

fn msg<T: Input>(v: Option<Value>) -> String {
    parse::<T>(v.as_ref(), "body").err().map(|e| e.message.into_owned()).unwrap_or_default()
}

#[test]
fn every_issue_in_schema_order() {
    assert_eq!(
        msg::<SignUp>(Some(json!({"email": "x", "password": ""}))),
        "[body.name] Invalid input: expected string, received undefined; [body.email] Invalid email address; \
         [body.password] Too small: expected string to have >=1 characters"
    );
    assert_eq!(
        msg::<SignUp>(Some(json!([]))),
        "[body] Invalid input: expected object, received array; [body] Invalid input: expected record, received array"
    );
    assert_eq!(msg::<SignUp>(Some(json!({"name": "", "email": "a@b.co", "password": "p", "extra": 1}))), "");
}

#[test]
fn nested_paths_and_records() {
    assert_eq!(
        msg::<Social>(Some(json!({"provider": 5, "scopes": "x", "disableRedirect": 1}))),
        "[body.provider] Invalid input; [body.disableRedirect] Invalid input: expected boolean, received number; \
         [body.scopes] Invalid input: expected array, received string"
    );
    assert_eq!(
        msg::<Social>(Some(json!({"provider": "g", "idToken": {"token": "t", "user": {"name": {"firstName": 1}}}, "scopes": ["a", 1]}))),
        "[body.idToken.user.name.firstName] Invalid input: expected string, received number; \
         [body.scopes.1] Invalid input: expected string, received number"
    );
    assert_eq!(
        msg::<Social>(Some(json!({"provider": "g", "additionalParams": {"a": 1}, "additionalData": []}))),
        "[body.additionalParams.a] Invalid input: expected string, received number; \
         [body.additionalData] Invalid input: expected record, received array"
    );
    assert_eq!(msg::<Social>(Some(json!({"provider": "g", "additionalParams": {"state": "x"}}))), "[body.additionalParams] reserved");
    assert_eq!(msg::<Social>(None), "[body] Invalid input: expected object, received undefined");
}

#[test]
fn query_repeats_are_arrays() {
    assert_eq!(query_value(Some("a=1&a=2&b=&c=x%20y")), json!({"a": ["1", "2"], "b": "", "c": "x y"}));
    assert_eq!(query_value(None), json!({}));
}

struct OtpType;
impl Input for OtpType {
    fn parse(o: &mut Obj<'_>) -> Self {
        o.string("email");
        o.one_of("type", &["sign-in", "email-verification"]);
        OtpType
    }
}

#[test]
fn enum_members() {
    // zod v4 (better-auth 1.7.24's): the same message for a missing, mistyped or unknown value.
    let expected = "[body.type] Invalid option: expected one of \"sign-in\"|\"email-verification\"";
    assert_eq!(msg::<OtpType>(Some(json!({"email": "a"}))), expected);
    assert_eq!(msg::<OtpType>(Some(json!({"email": "a", "type": 3}))), expected);
    assert_eq!(msg::<OtpType>(Some(json!({"email": "a", "type": "x"}))), expected);
    assert_eq!(msg::<OtpType>(Some(json!({"email": "a", "type": "sign-in"}))), "");
}
