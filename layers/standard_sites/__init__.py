"""Standardized construction sites (标化工地综合监管系统, SPEC ST-01 … ST-26).

The module's records hang off the ``sites`` layer (the pin) and its ``site_fences`` (the electronic fence); each
submodule here declares one part of the flow and its ``router`` (discovered by ``geo.modules``; nothing lists them):

- ``registration`` — project account registration from the project register (ST-01/02);
- ``reports`` — monthly reports with photos, supervision first review, authority receipt (ST-03/04/11);
- ``photos`` — site photos: camera uploads stamped with position and time, checked against the fence (ST-26);
- ``bonus`` — bonus-item declarations and their review and confirmation (ST-05/06/12);
and the authority, expert and evaluation parts beside them. Case transitions go through ``geo.workflow``.
"""

from geo.modules import Page, log_labels, pages, permissions

# The module's named actions beyond the sites layer's view/edit/import/export (granted to roles by migrations
# 0005 and 0006; titles for the back office's permission catalogue).
permissions(
    {
        "site.register": "工地登记",
        "site.report.submit": "提交月度申报",
        "site.report.receive": "接收月度申报",
        "site.report.review": "审核月度申报",
        "site.deduct": "登记扣分",
        "site.stage": "登记阶段考评",
        "site.evaluate": "工地考评",
        "site.expert_review": "专家评审",
        "site.experts": "管理专家库",
        "site.decide": "审定考评结果",
        "site.recommend": "推荐示范工地",
        "site.notice": "发布通报",
        "site.config": "标化工地配置",
        "site.stats.view": "查看标化工地统计",
        "site.stats.export": "导出标化工地统计",
        "site.public.view": "查看公示信息",
    },
    group="标化工地",
)

# What the operation log calls the module's records and actions (the case types name their own).
log_labels(
    objects={
        "projects": "项目",
        "st_registrations": "标化工地注册",
        "st_photos": "现场照片",
        "st_attachments": "考评申报附件",
        "st_catalog": "标化工地配置项",
        "experts": "专家",
        "st_rounds": "评审批次",
        "st_draws": "专家抽取",
        "st_reviews": "专家评审意见",
        "st_stats": "标化工地统计",
    },
    actions={
        "register": "注册",
        "photo_upload": "上传照片",
        "attachment_upload": "上传附件",
        "attachment_delete": "删除附件",
        "print": "打印申报表",
        "draw_commit": "登记抽取（承诺）",
        "draw_run": "执行抽取",
        "reminder": "短信提醒",
        "review": "提交评审",
        "status": "更新工地状态",
        "deactivate": "停用",
    },
    # What the module's text messages are for (the back office's SMS outbox shows these).
    purposes={"st_registration": "标化工地账号开通", "st_review_reminder": "专家评审截止提醒"},
    actors={"registration": "项目注册"},  # the registration creates the unit accounts before anyone signs in
)

pages(Page("/st", "标化工地", "业务系统", order=10), Page("/m", "手机端", "业务系统", order=11))
