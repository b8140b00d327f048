//! The tutorial's greeting: who is greeted, from where, at what time of day, and on which day.
//!
//! Pure text in, text out: nothing here knows where the values came from (query, header, body) or how they are
//! validated, so the rules can be tested exhaustively without building a request.

use std::fmt;

/// Greeted when the caller gives no name.
pub const DEFAULT_NAME: &str = "you";
/// Greeted from when the caller gives no city.
pub const DEFAULT_CITY: &str = "World";
/// The time of day when the caller gives none.
pub const DEFAULT_TIME: &str = "day";

/// What the caller told us. `None` and `Some("")` both mean "not given", as in the tutorial, whose Node.js code tests
/// every value for truthiness: an empty query parameter or header is what a client sends when it has nothing to say.
///
/// The sentence is its [`Display`](fmt::Display):
///
/// ```
/// use hello_lambda_otel::greeting::Greeting;
///
/// let seed = Greeting { name: Some("John"), city: Some("Seattle"), time: Some("evening"), day: Some("Thursday") };
/// assert_eq!(seed.to_string(), "Good evening, John of Seattle. Happy Thursday!");
/// assert_eq!(Greeting::default().to_string(), "Good day, you of World.");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Greeting<'a> {
    /// Who is greeted; `you` when absent.
    pub name: Option<&'a str>,
    /// Where they are from; `World` when absent.
    pub city: Option<&'a str>,
    /// The time of day of "Good …"; `day` when absent.
    pub time: Option<&'a str>,
    /// Has no default: without it the sentence simply has no "Happy …!" part.
    pub day: Option<&'a str>,
}

impl fmt::Display for Greeting<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = given(self.name).unwrap_or(DEFAULT_NAME);
        let city = given(self.city).unwrap_or(DEFAULT_CITY);
        let time = given(self.time).unwrap_or(DEFAULT_TIME);
        write!(f, "Good {time}, {name} of {city}.")?;
        match given(self.day) {
            Some(day) => write!(f, " Happy {day}!"),
            None => Ok(()),
        }
    }
}

fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greet(name: Option<&str>, city: Option<&str>, time: Option<&str>, day: Option<&str>) -> String {
        Greeting { name, city, time, day }.to_string()
    }

    #[test]
    fn nothing_given_uses_every_default() {
        assert_eq!(greet(None, None, None, None), "Good day, you of World.");
    }

    #[test]
    fn default_is_nothing_given() {
        assert_eq!(Greeting::default(), Greeting { name: None, city: None, time: None, day: None });
    }

    #[test]
    fn the_seed_request() {
        assert_eq!(
            greet(Some("John"), Some("Seattle"), Some("evening"), Some("Thursday")),
            "Good evening, John of Seattle. Happy Thursday!"
        );
    }

    #[test]
    fn the_seed_browser_request() {
        assert_eq!(greet(Some("John"), Some("Seattle"), None, None), "Good day, John of Seattle.");
    }

    #[test]
    fn name_alone() {
        assert_eq!(greet(Some("John"), None, None, None), "Good day, John of World.");
    }

    #[test]
    fn city_alone() {
        assert_eq!(greet(None, Some("Seattle"), None, None), "Good day, you of Seattle.");
    }

    #[test]
    fn time_alone() {
        assert_eq!(greet(None, None, Some("morning"), None), "Good morning, you of World.");
    }

    #[test]
    fn day_alone_adds_the_wish() {
        assert_eq!(greet(None, None, None, Some("Friday")), "Good day, you of World. Happy Friday!");
    }

    #[test]
    fn empty_name_is_the_default() {
        assert_eq!(greet(Some(""), Some("Seattle"), None, None), "Good day, you of Seattle.");
    }

    #[test]
    fn empty_city_is_the_default() {
        assert_eq!(greet(Some("John"), Some(""), None, None), "Good day, John of World.");
    }

    #[test]
    fn empty_time_is_the_default() {
        assert_eq!(greet(None, None, Some(""), None), "Good day, you of World.");
    }

    #[test]
    fn empty_day_adds_no_wish() {
        assert_eq!(greet(None, None, None, Some("")), "Good day, you of World.");
    }

    #[test]
    fn all_empty_is_all_defaults() {
        assert_eq!(greet(Some(""), Some(""), Some(""), Some("")), "Good day, you of World.");
    }

    #[test]
    fn whitespace_is_a_value_not_an_absence() {
        // The tutorial's truthiness test keeps " ", so a caller's spaces are theirs to send.
        assert_eq!(greet(Some(" "), None, None, Some(" ")), "Good day,   of World. Happy  !");
    }

    #[test]
    fn values_are_used_verbatim() {
        assert_eq!(
            greet(Some("john"), Some("SEATTLE"), Some("late night"), Some("day 1")),
            "Good late night, john of SEATTLE. Happy day 1!"
        );
    }

    #[test]
    fn values_that_look_like_markup_or_json_are_not_escaped_here() {
        // Escaping belongs to whichever encoding carries the text (JSON in the handler), not to the sentence.
        assert_eq!(greet(Some("\"<b>\""), Some("a\\b"), Some("{}"), Some("\n")), "Good {}, \"<b>\" of a\\b. Happy \n!");
    }

    #[test]
    fn unicode_is_kept_as_given() {
        assert_eq!(
            greet(Some("Zoë"), Some("São Paulo"), Some("朝"), Some("木曜日")),
            "Good 朝, Zoë of São Paulo. Happy 木曜日!"
        );
    }

    #[test]
    fn unicode_beyond_the_basic_plane_and_combining_marks() {
        assert_eq!(
            greet(Some("👩‍🚀"), Some("Mare\u{0301}"), None, Some("🎉")),
            "Good day, 👩‍🚀 of Mare\u{0301}. Happy 🎉!"
        );
    }

    #[test]
    fn right_to_left_text() {
        assert_eq!(greet(Some("سلمى"), Some("עכו"), None, None), "Good day, سلمى of עכו.");
    }
}
