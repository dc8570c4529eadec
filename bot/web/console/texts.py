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
    # keyword rules (bot.rules.validation, parsing, regex_safety, ruleset): the part after the field path
    (r"^required$", "必填"),
    (r"must not be empty \(only subscribe-only", "请至少填写一个关键词（只有仅用于关注事件的规则可以不填）"),
    (r"must not be empty when kind is 'text'", "回复类型为文字时，请至少填写一条回复"),
    (r"^must not be empty$", "不能为空"),
    (r"too many keywords \((\d+) > (\d+)\)", r"关键词太多（\1 个，最多 \2 个）"),
    (r"longer than (\d+) characters", r"超过 \1 个字符"),
    (r"normalizes to an empty string", "规范化后为空（只有标点或空格）"),
    (r"same as keywords\[\d+\] after normalization \('(.*)'\)", r"与另一个关键词规范化后相同（“\1”）"),
    (r"duplicate id '([^']*)'", r"编号“\1”已被另一条规则使用"),
    (r"must match \[a-z0-9\]", "编号须以小写字母或数字开头，只含小写字母、数字、“_”和“-”，最多 64 个字符"),
    (r"is reserved", "该编号为系统保留，请换一个"),
    (r"unknown article '([^']*)'", r"没有编号为“\1”的文章"),
    (r"required when kind is 'article'", "回复类型为文章时，请选择文章"),
    (r"only allowed when kind is 'article'", "只有回复类型为文章时才能选择文章"),
    (r"only allowed when kind is 'text'", "只有回复类型为文字时才能填写回复文字"),
    (r"at least one enabled urgent rule is required",
     "至少需要保留一条启用的紧急规则，否则发热等紧急症状只会得到默认回复"),
    (r"urgent rules must answer with kind 'text'", "紧急规则只能用文字回复"),
    (r"(\d+) bytes in UTF-8; urgent replies add (\d+) bytes",
     r"共 \1 字节；紧急回复另加 \2 字节，超出微信 2047 字节的上限"),
    (r"(\d+) bytes in UTF-8, ", r"共 \1 字节，超出微信 2047 字节的上限"),
    (r"must be an integer", "须为整数"),
    (r"must be true or false", "须为是或否"),
    (r"regex does not compile", "正则表达式有误，无法编译"),
    (r"regex is ambiguous", "正则表达式有歧义；字面的 [ 和 ] 请转义"),
    (r"could backtrack catastrophically", "正则表达式可能导致灾难性回溯，请简化"),
    (r"too slow on adversarial input", "正则表达式在特殊输入下太慢，请简化"),
    (r"matches the empty string", "正则表达式能匹配空字符串，会匹配所有消息"),
    (r"regex longer than (\d+) characters", r"正则表达式超过 \1 个字符"),
    (r"never occurs in normalized text", "正则表达式含有规范化后不会出现的字符（如大写字母或繁体字）"),
    (r"POSIX classes", "不支持 POSIX 字符类和模糊匹配"),
    (r"must include a timezone", "须包含时区"),
    (r"not an ISO 8601 datetime", "不是有效的日期时间"),
    (r"set at least one of start, end, hours", "时间段请至少填写开始、结束或每日时段之一"),
    (r"must be after start", "结束时间须晚于开始时间"),
    (r"unknown timezone", "未知的时区"),
    (r"must look like '08:00-17:30'", "每日时段格式应为 08:00-17:30（24 小时制）"),
    (r"start equals end", "开始与结束相同，时段为空"),
    (r"'\*' is only allowed", "“*”只能用于仅适用于关注事件的规则"),
    (r"'\*' must be the only keyword", "“*”必须是唯一的关键词"),
    (r"unknown input kind", "未知的消息类型"),
    (r"unknown match mode", "未知的匹配方式"),
    (r"unknown answer kind", "未知的回复类型"),
    (r"not valid text \(lone surrogates\)", "含有无效字符"),
))


def translate(message: str) -> str:
    """The Chinese for a known service message; others are shown as they are (they name the field)."""
    for pattern, chinese in _KNOWN:
        found = pattern.search(message)
        if found:
            return found.expand(chinese)
    return message


def rule_error(message: str) -> tuple[str, str]:
    """A rule error's field path and its Chinese (``rule.keywords: must not be empty`` → the path, 不能为空)."""
    path, sep, text = message.partition(": ")
    if not sep:
        return "", translate(message)
    return path, translate(text)


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


# -- the custom menu (bot.wechat.menu, menu_service) and users (bot.accounts.users) ----------------------

_KNOWN += tuple((re.compile(p), t) for p, t in (
    (r"^(\d+) bytes, at most (\d+)", r"共 \1 字节（UTF-8，一个汉字 3 字节），微信最多允许 \2 字节"),
    (r"^(\d+) buttons, must be 1 to (\d+)", r"一级菜单有 \1 个，须为 1–\2 个"),
    (r"^(\d+) sub-buttons, at most (\d+)", r"子菜单有 \1 个，最多 \2 个"),
    (r"must be a list of 1 to (\d+) buttons", r"请至少填写一个一级菜单（最多 \1 个）"),
    (r"^is required: click or view", "请选择类型：发送关键词（click）或打开链接（view）"),
    (r"^is required$", "必填"),
    (r"must not start or end with spaces", "开头和结尾不能有空格"),
    (r"duplicate key '([^']*)'", r"关键词“\1”已被另一个按钮使用"),
    (r"must be an http\(s\) URL", "须为 http:// 或 https:// 开头的链接"),
    (r"no enabled rule answers '([^']*)' for a menu click",
     r"没有启用的规则回复菜单点击“\1”（用户只会收到默认回复）：请添加消息类型含“菜单点击”的规则"),
    (r"'([^']*)' shows as '([^']*)' on the phone", r"“\1”在手机上显示为“\2”"),
    (r"links to (\d+) domains \(([^)]*)\); WeChat may refuse more than (\d+)",
     r"链接指向 \1 个域名（\2），微信可能拒绝超过 \3 个（65316）"),
    (r"a (click|view) button has no (key|url)", r"该类型的按钮不填\2"),
    (r"unknown type '([^']*)'", r"未知的按钮类型“\1”"),
    (r"no menu: add a menu: section", "还没有菜单：请在下方编辑后保存，或在 config.yaml 中添加 menu:"),
    (r"no AppSecret configured", "未配置 AppSecret（WECHAT_APP_SECRET），无法推送到微信"),
    (r"you cannot (disable|demote) yourself", r"不能停用自己或取消自己的管理员角色，请让另一位管理员操作"),
    (r"they are the last enabled admin", "这是最后一位启用的管理员，不能停用或改为编辑"),
    (r"must be admin or editor", "角色须为管理员或编辑"),
    (r"no user named '([^']*)'", r"没有用户“\1”"),
))

WECHAT_MENU_ERRORS = {
    40016: "一级菜单个数不对（1–3 个）", 40017: "按钮类型无效", 40018: "一级菜单名称太长（最多 16 字节）",
    40019: "按钮关键词太长（最多 128 字节）", 40020: "按钮链接太长（最多 1024 字节）",
    40022: "子菜单级数不对（只能两级）",
    40023: "子菜单个数不对（1–5 个）", 40024: "子菜单按钮类型无效", 40025: "子菜单名称太长（最多 60 字节）",
    40026: "子菜单关键词太长（最多 128 字节）", 40027: "子菜单链接太长（最多 1024 字节）",
    40033: "请求含有 \\uXXXX 转义字符", 40054: "子菜单链接的域名不被允许", 40055: "菜单链接的域名不被允许",
    65316: "菜单链接的域名太多（最多 3 个）", 65317: "菜单链接无效", 46003: "公众号还没有自定义菜单",
}


def menu_wechat_error(code: int, meaning: str) -> str:
    """WeChat's refusal of a menu in Chinese, with its errcode."""
    known = WECHAT_MENU_ERRORS.get(code)
    words = f"{known}（错误码 {code}）" if known else wechat_error_words(code, meaning)
    return f"微信拒绝了菜单：{words}"
