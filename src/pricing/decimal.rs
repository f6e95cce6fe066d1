//! Exact fixed-point decimals for the pricing hot path.
//!
//! Prices come out of `numeric` columns and costs go back into `numeric`, but
//! calling Postgres' numeric arithmetic for every term of every call is slow.
//! A price per million tokens has few significant digits, so `mantissa × 10^-scale`
//! in an `i128` holds every realistic price and cost exactly; anything that would
//! overflow is reported, never rounded.

use std::cmp::Ordering;
use std::fmt;

/// Largest scale we keep. Postgres numeric allows more, but a price with more
/// than 30 decimal places is not a price.
pub const MAX_SCALE: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// The text is not a plain finite decimal number (NaN, Infinity, garbage).
    Invalid,
    /// The value or an intermediate result does not fit.
    Overflow,
}

/// `mantissa × 10^-scale`, exact.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

const fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

impl Decimal {
    pub const ZERO: Decimal = Decimal { mantissa: 0, scale: 0 };

    pub fn from_i64(v: i64) -> Decimal {
        Decimal { mantissa: v as i128, scale: 0 }
    }

    pub fn mantissa(&self) -> i128 {
        self.mantissa
    }

    pub fn scale(&self) -> u32 {
        self.scale
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// `mantissa × 10^-scale`, normalized, with the limits `parse` applies.
    pub fn from_parts(mantissa: i128, scale: u32) -> Result<Decimal, DecimalError> {
        let d = Decimal { mantissa, scale }.normalized();
        if d.scale > MAX_SCALE {
            return Err(DecimalError::Overflow);
        }
        Ok(d)
    }

    /// Parses Postgres numeric output (`-12.5000`, `0`, `3`). Exponent forms
    /// (`2.5e-06`) are accepted too, so JSON text can be read directly.
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let text = text.trim();
        let (body, exponent) = match text.find(['e', 'E']) {
            Some(pos) => {
                let exp: i32 = text[pos + 1..].parse().map_err(|_| DecimalError::Invalid)?;
                (&text[..pos], exp)
            }
            None => (text, 0),
        };
        let (negative, digits) = match body.as_bytes().first() {
            Some(b'-') => (true, &body[1..]),
            Some(b'+') => (false, &body[1..]),
            _ => (false, body),
        };
        let (int_part, frac_part) = match digits.find('.') {
            Some(pos) => (&digits[..pos], &digits[pos + 1..]),
            None => (digits, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DecimalError::Invalid);
        }
        let mut mantissa: i128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            if !b.is_ascii_digit() {
                return Err(DecimalError::Invalid);
            }
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add((b - b'0') as i128))
                .ok_or(DecimalError::Overflow)?;
        }
        let mut scale = frac_part.len() as i64 - exponent as i64;
        if scale < 0 {
            let factor = pow10((-scale) as u32).ok_or(DecimalError::Overflow)?;
            mantissa = mantissa.checked_mul(factor).ok_or(DecimalError::Overflow)?;
            scale = 0;
        }
        let mut d = Decimal { mantissa: if negative { -mantissa } else { mantissa }, scale: 0 };
        d.scale = u32::try_from(scale).map_err(|_| DecimalError::Overflow)?;
        let d = d.normalized();
        if d.scale > MAX_SCALE {
            return Err(DecimalError::Overflow);
        }
        Ok(d)
    }

    /// Drops trailing zeros after the decimal point (`2.5000` → `2.5`).
    pub fn normalized(mut self) -> Decimal {
        if self.mantissa == 0 {
            return Decimal::ZERO;
        }
        while self.scale > 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        self
    }

    fn rescaled(self, scale: u32) -> Result<Decimal, DecimalError> {
        debug_assert!(scale >= self.scale);
        let factor = pow10(scale - self.scale).ok_or(DecimalError::Overflow)?;
        Ok(Decimal { mantissa: self.mantissa.checked_mul(factor).ok_or(DecimalError::Overflow)?, scale })
    }

    pub fn checked_add(self, other: Decimal) -> Result<Decimal, DecimalError> {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.rescaled(scale)?, other.rescaled(scale)?);
        Ok(Decimal { mantissa: a.mantissa.checked_add(b.mantissa).ok_or(DecimalError::Overflow)?, scale })
    }

    pub fn checked_mul(self, other: Decimal) -> Result<Decimal, DecimalError> {
        Ok(Decimal {
            mantissa: self.mantissa.checked_mul(other.mantissa).ok_or(DecimalError::Overflow)?,
            scale: self.scale + other.scale,
        })
    }

    pub fn checked_sub(self, other: Decimal) -> Result<Decimal, DecimalError> {
        self.checked_add(Decimal { mantissa: -other.mantissa, scale: other.scale })
    }

    pub fn checked_mul_i64(self, n: i64) -> Result<Decimal, DecimalError> {
        Ok(Decimal { mantissa: self.mantissa.checked_mul(n as i128).ok_or(DecimalError::Overflow)?, scale: self.scale })
    }

    /// Divides by 10^exp exactly, by moving the decimal point.
    pub fn shift_right(self, exp: u32) -> Result<Decimal, DecimalError> {
        let scale = self.scale + exp;
        if scale > MAX_SCALE + 12 {
            return Err(DecimalError::Overflow);
        }
        Ok(Decimal { mantissa: self.mantissa, scale })
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let scale = self.scale.max(other.scale);
        match (self.rescaled(scale), other.rescaled(scale)) {
            (Ok(a), Ok(b)) => a.mantissa.cmp(&b.mantissa),
            // Rescaling overflowed: compare by sign, then by integer part.
            _ => {
                let ai = self.mantissa / pow10(self.scale).unwrap_or(i128::MAX);
                let bi = other.mantissa / pow10(other.scale).unwrap_or(i128::MAX);
                ai.cmp(&bi)
            }
        }
    }
}

impl fmt::Display for Decimal {
    /// Plain decimal text, never exponent notation; numeric_in reads it back exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let this = self.normalized();
        let digits = this.mantissa.unsigned_abs().to_string();
        if this.mantissa < 0 {
            f.write_str("-")?;
        }
        let scale = this.scale as usize;
        if scale == 0 {
            return f.write_str(&digits);
        }
        if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            write!(f, "{int}.{frac}")
        } else {
            write!(f, "0.{}{}", "0".repeat(scale - digits.len()), digits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints_exactly() {
        assert_eq!(d("2.5000").to_string(), "2.5");
        assert_eq!(d("2.5e-06").to_string(), "0.0000025");
        assert_eq!(d("1e-05").shift_right(0).unwrap().to_string(), "0.00001");
        assert_eq!(d("-12.0").to_string(), "-12");
        assert_eq!(d("0.000").to_string(), "0");
        assert_eq!(d("3E2").to_string(), "300");
        assert_eq!(d(".5").to_string(), "0.5");
    }

    #[test]
    fn rejects_non_numbers() {
        for bad in ["NaN", "Infinity", "", "-", "1.2.3", "1e", "abc"] {
            assert_eq!(Decimal::parse(bad), Err(DecimalError::Invalid), "{bad}");
        }
        assert_eq!(Decimal::parse("1e60"), Err(DecimalError::Overflow));
    }

    #[test]
    fn arithmetic_is_exact() {
        // 1,000 tokens at $2.50 per million = $0.0025
        let cost = d("2.5").checked_mul_i64(1000).unwrap().shift_right(6).unwrap();
        assert_eq!(cost.to_string(), "0.0025");
        let sum = cost.checked_add(d("0.0000001")).unwrap();
        assert_eq!(sum.to_string(), "0.0025001");
        assert!(d("0.1") < d("0.10001"));
        assert_eq!(d("1.10"), d("1.1"));
    }

    #[test]
    fn overflow_is_reported() {
        let big = d("170141183460469231731687303715884105727");
        assert_eq!(big.checked_mul_i64(2), Err(DecimalError::Overflow));
        assert_eq!(big.checked_add(big), Err(DecimalError::Overflow));
    }
}
