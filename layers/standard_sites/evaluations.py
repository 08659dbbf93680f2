"""Evaluation applications (考评申报, ST-07/08/09/15/18): the case that runs from the construction unit's application
after completion acceptance, through the supervision unit's first review and the local authority's recommendation,
to the expert review and the committee's decision.

The state machine is the contract between the parts: the expert draw (``draws``) moves recommended applications to
``in_review`` and, when every drawn expert has scored, to ``reviewed``; the committee then awards or rejects.
"""
from __future__ import annotations

from layers.workflow import Machine, Transition

STATES = {
    "draft": "草稿", "submitted": "待监理审核", "supervision_approved": "监理已审核", "returned": "已退回",
    "recommended": "已推荐", "not_recommended": "未推荐", "in_review": "专家评审中", "reviewed": "评审完成",
    "awarded": "已获评", "rejected": "未通过",
}
EVALUATION = Machine("st_evaluation", "考评申报", "st_evaluations", STATES, (
    Transition("submit", "提交", ("draft", "returned"), "submitted", "site.report.submit"),
    Transition("approve", "审核通过", ("submitted",), "supervision_approved", "site.report.review"),
    Transition("return", "退回", ("submitted",), "returned", "site.report.review", reason_required=True),
    Transition("recommend", "推荐", ("supervision_approved",), "recommended", "site.recommend"),
    Transition("decline", "不予推荐", ("supervision_approved",), "not_recommended", "site.recommend",
               reason_required=True),
    Transition("assign", "抽取专家", ("recommended",), "in_review", "site.experts"),
    Transition("complete", "完成评审", ("in_review",), "reviewed", "site.experts"),
    Transition("award", "评定通过", ("reviewed",), "awarded", "site.decide"),
    Transition("reject", "评定不通过", ("reviewed",), "rejected", "site.decide", reason_required=True),
))
