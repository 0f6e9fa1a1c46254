//! The command-line options that choose between two ways of doing one step (`--background
//! replace|keep` and the like) are enums; [`option_enum!`] gives each its names, one parse and
//! one typed parse error, so that every such option reads and reports the same way.

/// Display and `FromStr` for an enum of two unit variants, each with its name, and `$err`, the
/// typed error of a name that is neither: "`$what` `NAME` is not `A` or `B`".
macro_rules! option_enum {
    ($ty:ident, $err:ident, $what:literal, $a:ident = $a_name:literal, $b:ident = $b_name:literal) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $ty::$a => $a_name,
                    $ty::$b => $b_name,
                })
            }
        }

        #[doc = concat!("A ", $what, " that is neither `", $a_name, "` nor `", $b_name, "`.")]
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $err(String);

        impl std::fmt::Display for $err {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    "{} `{}` is not `{}` or `{}`",
                    $what, self.0, $a_name, $b_name
                )
            }
        }

        impl std::error::Error for $err {}

        impl std::str::FromStr for $ty {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $a_name => Ok($ty::$a),
                    $b_name => Ok($ty::$b),
                    other => Err($err(other.to_string())),
                }
            }
        }
    };
}
