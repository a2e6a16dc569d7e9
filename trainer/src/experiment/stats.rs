//! Statistics of repeated runs: mean ± sample standard deviation over seeds and the
//! paired two-sided Student t-test (as the paper's §5.1 does against MARIO).
//!
//! The Student-t tail is `statrs`' survival function (a maintained implementation
//! of the regularised incomplete beta); the tests hold it to closed forms (ν = 1, 2,
//! 4) and to table critical values.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean and sample standard deviation (`n − 1` denominator; 0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// Result of a paired t-test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TTest {
    /// `mean(a − b) / (sd(a − b) / √n)`.
    pub t: f64,
    pub df: usize,
    /// Two-sided p-value.
    pub p: f64,
}

/// Paired two-sided t-test of `a` against `b` (same length, paired by index, e.g. by
/// seed). `None` with fewer than two pairs. Identical non-zero differences give
/// `t = ±∞, p = 0`; all-zero differences give `t = 0, p = 1`.
pub fn paired_t_test(a: &[f64], b: &[f64]) -> Option<TTest> {
    assert_eq!(a.len(), b.len(), "paired samples differ in length");
    let n = a.len();
    if n < 2 {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let (mean, sd) = mean_std(&d);
    let df = n - 1;
    if sd == 0.0 || !sd.is_finite() {
        return Some(if mean == 0.0 {
            TTest { t: 0.0, df, p: 1.0 }
        } else {
            TTest {
                t: mean.signum() * f64::INFINITY,
                df,
                p: 0.0,
            }
        });
    }
    let t = mean / (sd / (n as f64).sqrt());
    Some(TTest {
        t,
        df,
        p: student_t_two_sided(t, df as f64),
    })
}

/// `P(|T| ≥ |t|)` for Student's t with `df` degrees of freedom (NaN for a NaN `t`
/// or `df ≤ 0`).
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => (2.0 * dist.sf(t.abs())).clamp(0.0, 1.0),
        Err(_) => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cumulative distribution function of Student's t.
    fn student_t_cdf(t: f64, df: f64) -> f64 {
        let tail = student_t_two_sided(t, df) / 2.0;
        if t >= 0.0 { 1.0 - tail } else { tail }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!(close(m, 5.0, 1e-12));
        // Population sd is 2; the sample sd is 2·√(8/7).
        assert!(close(s, 2.0 * (8.0f64 / 7.0).sqrt(), 1e-12), "{s}");
        assert_eq!(mean_std(&[0.25]), (0.25, 0.0));
        assert!(mean_std(&[]).0.is_nan());
    }

    #[test]
    fn student_t_matches_closed_forms_and_tables() {
        // ν = 1 (Cauchy): F(t) = 1/2 + atan(t)/π.
        for t in [-3.0f64, -0.5, 0.0, 0.7, 2.0, 12.0] {
            let exact = 0.5 + f64::atan(t) / std::f64::consts::PI;
            assert!(close(student_t_cdf(t, 1.0), exact, 1e-12), "ν=1 t={t}");
        }
        // ν = 2: F(t) = 1/2 + t / (2√(2 + t²)).
        for t in [-4.0f64, -1.0, 0.3, 1.5, 6.0] {
            let exact = 0.5 + t / (2.0 * (2.0 + t * t).sqrt());
            assert!(close(student_t_cdf(t, 2.0), exact, 1e-12), "ν=2 t={t}");
        }
        // Two-sided 5% / 1% critical values from standard t tables.
        for (t, df, p) in [
            (12.706_204_736, 1.0, 0.05),
            (4.302_652_730, 2.0, 0.05),
            (2.776_445_105, 4.0, 0.05),
            (2.228_138_852, 10.0, 0.05),
            (2.749_995_654, 30.0, 0.01),
            (3.707_428_021, 6.0, 0.01),
        ] {
            let got = student_t_two_sided(t, df);
            assert!(close(got, p, 1e-8), "t={t} ν={df}: {got} vs {p}");
        }
        assert_eq!(student_t_two_sided(0.0, 5.0), 1.0);
        assert_eq!(student_t_two_sided(f64::INFINITY, 5.0), 0.0);
    }

    #[test]
    fn paired_t_test_known_values() {
        // d = (0.02, 0.03, 0.01): mean 0.02, sd 0.01, t = 2√3, ν = 2,
        // p = 1 − t/√(2 + t²) = 1 − √(12/14) = 0.0741799 (the ν = 2 closed form).
        let a = [0.30, 0.32, 0.31];
        let b = [0.28, 0.29, 0.30];
        let r = paired_t_test(&a, &b).unwrap();
        assert_eq!(r.df, 2);
        assert!(close(r.t, 2.0 * 3f64.sqrt(), 1e-9), "{}", r.t);
        assert!(close(r.p, 1.0 - (12.0f64 / 14.0).sqrt(), 1e-9), "{}", r.p);
        // Symmetric in the sign of the difference.
        let r2 = paired_t_test(&b, &a).unwrap();
        assert!(close(r2.t, -r.t, 1e-9) && close(r2.p, r.p, 1e-12));
        // Five pairs: d = (.3, −.1, .5, .6, .5), mean .36, sample variance .078,
        // t = .36 / √(.078/5) = 2.882307, ν = 4; p = 0.0449088 (the ν = 4 closed form
        // below, and a midpoint-rule integral of the t density, agree).
        let r = paired_t_test(&[5.1, 4.9, 5.6, 5.8, 6.0], &[4.8, 5.0, 5.1, 5.2, 5.5]).unwrap();
        let t = 0.36 / (0.078f64 / 5.0).sqrt();
        assert!(close(r.t, t, 1e-9), "{}", r.t);
        // ν = 4 closed form: two-sided p = 1 − (3/2)·s·(1 − s²/3), s = t/√(4 + t²).
        let s = t / (4.0 + t * t).sqrt();
        let p = 1.0 - 1.5 * s * (1.0 - s * s / 3.0);
        assert!(close(r.p, p, 1e-9), "{} vs {p}", r.p);
        assert!(close(r.p, 0.044_908_79, 1e-8), "{}", r.p);
        // Degenerate cases.
        assert!(paired_t_test(&[1.0], &[0.0]).is_none());
        assert_eq!(paired_t_test(&[1.0, 2.0], &[1.0, 2.0]).unwrap().p, 1.0);
        assert_eq!(paired_t_test(&[2.0, 3.0], &[1.0, 2.0]).unwrap().p, 0.0);
    }
}
