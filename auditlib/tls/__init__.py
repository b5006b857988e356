"""TLS: scan endpoints with sslyze, keep observations, judge them against the ANSSI TLS guide
and the IGC-Santé rules (the profile is data in `auditlib/profiles/`)."""

from auditlib.errors import ProfileError
from auditlib.tls.evaluate import (
    EndpointEvaluation,
    RequirementVerdict,
    RuleResult,
    bottom_line_of,
    evaluate,
    evaluate_all,
    evaluate_certificate,
)
from auditlib.tls.profile import PROFILES, Profile, RuleStatus, Verdict
from auditlib.tls.rules import (
    RULES,
    SuiteParts,
    SuiteVerdict,
    Usage,
    classify_suites,
    load_profile,
    split_suite,
)

__all__ = [
    "PROFILES",
    "RULES",
    "EndpointEvaluation",
    "Profile",
    "ProfileError",
    "RequirementVerdict",
    "RuleResult",
    "RuleStatus",
    "SuiteParts",
    "SuiteVerdict",
    "Usage",
    "Verdict",
    "bottom_line_of",
    "classify_suites",
    "evaluate",
    "evaluate_all",
    "evaluate_certificate",
    "load_profile",
    "split_suite",
]
