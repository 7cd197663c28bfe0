//! The error explainer: for an error number (1418, 35250 ...), what it means and which checks
//! diagnose it.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub number: u32,
    pub severity: Option<u8>,
    pub message: &'static str,
    pub meaning: &'static str,
    /// Diagnosis steps in order, each with the check that runs it.
    pub steps: Vec<ExplainStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainStep {
    pub step: &'static str,
    pub checks: Vec<&'static str>,
}

pub fn explain(_number: u32) -> Option<Explanation> {
    None
}

/// Every error number the explainer knows, ascending.
pub fn known_errors() -> Vec<u32> {
    Vec::new()
}
