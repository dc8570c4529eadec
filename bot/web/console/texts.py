"""The service layer's refusals in the Chinese that editors and admins read (matched by their English form)."""

from __future__ import annotations

import re

from bot.accounts.model import LoginRefused

_KNOWN: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), t) for p, t in (
    (r"wrong user name or password", "用户名或密码错误"),
    (r"this account is disabled", "此账号已停用，请联系管理员"),
    (r"must be at least (\d+) characters", r"密码至少 \1 个字符"),
    (r"must be at most (\d+) characters", r"密码最多 \1 个字符"),
    (r"must not be only spaces", "密码不能只有空格"),
    (r"one of the most common passwords", "这是最常见的密码之一，请换一个"),
    (r"must not be the user name", "密码不能与用户名相同"),
    (r"already exists", "该用户名已存在"),
    (r"use 2 to 32 of", "用户名须为 2–32 个小写字母、数字、“.”、“_”或“-”"),
    (r"changed by someone else meanwhile", "内容已被他人修改，请刷新后重试"),
))


def translate(message: str) -> str:
    """The Chinese for a known service message; others are shown as they are (they name the field)."""
    for pattern, chinese in _KNOWN:
        found = pattern.search(message)
        if found:
            return found.expand(chinese)
    return message


def login_refused(exc: LoginRefused) -> str:
    if exc.retry_at is not None:
        return f"登录失败次数过多，请在 {exc.retry_at:%H:%M:%S}（UTC）之后再试"
    return translate(str(exc))


def account_error(exc: Exception) -> str:
    return translate(str(exc))


# -- questions and reply posts (bot.questions.posts) -------------------------------------------------

_KNOWN += tuple((re.compile(p), t) for p, t in (
    (r"no question group has an answer yet", "还没有已解答的问题组，无法生成文章"),
    (r"^no question (\d+)", r"没有编号为 \1 的问题"),
    (r"^no post (\S+)", r"没有编号为 \1 的文章"),
    (r"post \S+ has no group (\S+)", r"文章中没有问题组 \1"),
    (r"'([^']*)' is not a question id", r"“\1”不是问题编号（应为数字）"),
    (r"'([^']*)' is not a group id", r"“\1”不是问题组编号（如 g1）"),
    (r"topic must be 1 to (\d+) characters", r"主题须为 1–\1 个字"),
    (r"reason must be at most (\d+) characters", r"理由最多 \1 个字"),
    (r"question (\S+) is (\w+)(?: \(post (\S+)\))?: only pending questions can change here",
     r"问题 \1 已不在待整理队列（状态：\2），请到文章页处理它的问题组"),
    (r"question (\S+) (?:or \S+ )?was just batched", r"问题 \1 刚被整理进文章，请到文章页处理"),
    (r"a question cannot be merged into itself", "问题不能合并到它自己"),
    (r"a group cannot be merged into itself", "问题组不能合并到它自己"),
    (r"question (\S+) is merged into (\S+): change the topic", r"问题 \1 已合并到 \2，请改问题 \2 的主题"),
    (r"question (\S+) is itself merged into (\S+)", r"问题 \1 已合并到 \2，请直接合并到 \2"),
    (r"question (\S+) is (\w+): it cannot be rejected now", r"问题 \1 当前不能不采用"),
    (r"the answer is empty", "回答不能为空"),
    (r"title must be 1 to (\d+) characters", r"标题须为 1–\1 个字（微信的限制）"),
    (r"group (\S+) is (rejected|merged)", r"问题组 \1 已不采用或已合并"),
    (r"already sent to WeChat once", "文章已提交过微信，问题组不能再改动"),
    (r"only draft, scheduled or failed posts can be edited", "只有草稿、已定时或发表失败的文章可以修改"),
    (r"use 'YYYY-MM-DD HH:MM'", "时间格式应为 YYYY-MM-DD HH:MM（本账号时区）"),
    (r"only draft or failed posts can be scheduled", "只有草稿或发表失败的文章可以定时发表"),
    (r"the question text of group\(s\) ([g\d ]+) has not been confirmed",
     r"问题组 \1 的问题文字尚未经编辑确认：请阅读后点击“确认问题文字”"),
    (r"it may be live, so it cannot be published again", "文章已提交微信且可能已发表，不能再次发表"),
    (r"is not scheduled", "文章未定时（正在发表的文章不能取消）"),
    (r"is not the article's link", "链接应为文章地址（https://mp.weixin.qq.com/…）"),
    (r"only a failed post whose publishing outcome is unknown", "只有“发表结果未知”的失败文章可以这样标记"),
    (r"changed meanwhile", "内容已被他人修改，请刷新后重试"),
    (r"unknown action", "未知操作"),
))

_STEPS = {"release": "准备", "cover": "上传封面", "draft": "新建草稿", "submit": "提交发表", "publish": "提交发表",
          "poll": "查询发表结果", "publish job": "微信发表任务", "mass send": "群发", "notify": "通知提问者"}
_WECHAT_ERRORS = {
    -1: "微信系统繁忙", 40001: "access token 无效（或 AppSecret 错误）", 40007: "media_id 无效",
    40164: "服务器 IP 不在公众号的 API 白名单中", 42001: "access token 已过期", 43004: "该用户未关注公众号",
    45009: "今日接口调用次数已达上限", 45011: "接口调用过于频繁（每分钟限制）",
    45015: "超过 48 小时未互动，无法发送客服消息", 48001: "公众号没有该接口的权限（请检查认证与权限）",
    53503: "该草稿未通过发表检查", 53504: "需前往公众平台官网使用草稿", 53505: "请手动保存成功后再发表",
}


def step_words(step: str) -> str:
    return _STEPS.get(step, step)


def wechat_error_words(code: int, meaning: str) -> str:
    """A WeChat error for editors: the Chinese we know for its code, else WeChat's own words and the code."""
    known = _WECHAT_ERRORS.get(code)
    return f"{known}（错误码 {code}）" if known else f"{meaning}（错误码 {code}）"
