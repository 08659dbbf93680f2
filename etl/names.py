"""Chinese name generators for the demo data set: people, places, roads, companies.

Every function takes a ``numpy.random.Generator`` and draws from fixed pools in
a fixed order, so the same generator state gives the same names. The pools are
synthetic: place and company names are plausible combinations of common
characters, not a register of real entities (a few may coincide with real ones).
"""

from __future__ import annotations

import numpy as np

# Common surnames, roughly in Zhejiang frequency order (王 and 陈 lead); weights fall off Zipf-like.
SURNAMES = tuple(
    "王陈张李徐吴周杨刘朱黄胡金何沈郑林叶钱孙方应俞楼章蒋潘许施赵马高洪邵汪姚丁傅钟程严余宋卢"
    "毛曹冯袁郭谢唐吕夏邱罗董韩蔡杜戴孔陆范鲍骆裘娄童葛姜任江贾石顾龚"
)
MALE_GIVEN = tuple("建国军伟强明华平杰涛磊勇斌志刚海峰林波云飞东亮成浩鹏宇宏新春福根土水金荣德兴良法忠祥发宝松庆林")
FEMALE_GIVEN = tuple("芳英华丽敏静娟艳萍红玲霞燕琴美秀兰凤珍梅莲菊桂娥月素彩雅婷琳洁萱")

# Place-name syllables (first, second): 青山, 石门, 桃源, 龙坞 ...
PLACE_FIRST = tuple("青云石金玉龙凤白桃梅竹松枫柳双新长明安宁永兴丰和东西南北上大小高湖溪江塘黄红清临乔横方仁义乐")
PLACE_SECOND = tuple("山溪桥塘浦湾埠坞岭源口庄墩湖港田园林坑垄畈坂岙头峰泉洲渡")
ROAD_FIRST = tuple("文学天秋凤江湖春庆体育解放延安中河环城建国钱塘之望潮闻涛滨盛飞虹古墩紫金丰潭")
ROAD_SECOND = tuple("一二三华安兴明德和平新远宁盛达元晖康泰")
DIRECTIONS = ("", "", "", "东", "西", "南", "北")

BRAND_FIRST = tuple("中华宏恒信达盛元通安泰鼎诚嘉汇金广新天大东南正荣博睿瑞祥隆昌宁远兴")
BRAND_SECOND = tuple("天华宏恒信达盛元通泰鼎诚嘉汇城厦业建成泽润和源丰茂邦域锦")

REVIEW_AGENCIES = (
    "杭州市施工图审查中心",
    "浙江华审工程咨询有限公司",
    "杭州建安施工图审查有限公司",
    "浙江省建筑设计研究院审图中心",
    "杭州正元工程技术审查有限公司",
    "浙江中审建设工程咨询有限公司",
)


def _pick(rng: np.random.Generator, pool: tuple[str, ...], size: int, p=None) -> np.ndarray:
    return np.asarray(pool)[rng.choice(len(pool), size=size, p=p)]


def _join(*parts) -> np.ndarray:
    """Element-wise concatenation of string arrays (or scalars) into an object array of str."""
    out = np.asarray(parts[0]).astype(str)
    for p in parts[1:]:
        out = np.char.add(out, np.asarray(p).astype(str))
    return out.astype(object)


def zipf_weights(n: int, s: float = 0.9) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def person_names(rng: np.random.Generator, size: int, male_share: float = 0.75) -> np.ndarray:
    """Full names: surname plus a one- or two-character given name (farmhouse owners are mostly men)."""
    surname = _pick(rng, SURNAMES, size, zipf_weights(len(SURNAMES)))
    male = rng.random(size) < male_share
    m1, m2 = _pick(rng, MALE_GIVEN, size), _pick(rng, MALE_GIVEN, size)
    f1, f2 = _pick(rng, FEMALE_GIVEN, size), _pick(rng, FEMALE_GIVEN, size)
    first = np.where(male, m1, f1)
    second = np.where(male, m2, f2)
    second = np.where(rng.random(size) < 0.25, "", second)
    return _join(surname, first, second)


def place_pool() -> list[str]:
    """Every two-character place name (first syllable + second, no doubled character)."""
    return [a + b for a in PLACE_FIRST for b in PLACE_SECOND if a != b]


def places(rng: np.random.Generator, size: int, unique: bool = True) -> list[str]:
    pool = place_pool()
    if unique and size > len(pool):
        raise ValueError(f"only {len(pool)} distinct place names")
    return [pool[i] for i in rng.choice(len(pool), size=size, replace=not unique)]


def roads(rng: np.random.Generator, size: int) -> list[str]:
    """Road names like 文华路, 秋涛北路, 江宁大道."""
    a = _pick(rng, ROAD_FIRST, size)
    b = _pick(rng, ROAD_SECOND, size)
    d = _pick(rng, DIRECTIONS, size)
    kind = _pick(rng, ("路", "路", "路", "街", "大道"), size)
    d = np.where(kind == "路", d, "")
    return list(_join(a, b, d, kind))


def brands(rng: np.random.Generator, size: int) -> list[str]:
    """Distinct two-character trade names (中盛, 宏达 ...)."""
    pool = [a + b for a in BRAND_FIRST for b in BRAND_SECOND if a != b]
    return [pool[i] for i in rng.choice(len(pool), size=size, replace=False)]


def companies(rng: np.random.Generator, size: int, patterns: tuple[str, ...]) -> list[str]:
    """Company names from ``patterns`` with a ``{b}`` placeholder for the trade name, all distinct."""
    out = []
    for b in brands(rng, size):
        out.append(patterns[int(rng.integers(len(patterns)))].format(b=b))
    return out


CONSTRUCTION_PATTERNS = (
    "浙江{b}建设集团有限公司",
    "杭州{b}建筑工程有限公司",
    "浙江{b}建工集团有限公司",
    "浙江{b}建设有限公司",
)
SUPERVISION_PATTERNS = (
    "杭州{b}工程监理有限公司",
    "浙江{b}工程管理有限公司",
    "浙江{b}项目管理有限公司",
    "杭州{b}建设监理有限公司",
)
BUILDER_PATTERNS = (
    "杭州{b}置业有限公司",
    "杭州{b}房地产开发有限公司",
    "杭州{b}投资发展有限公司",
    "浙江{b}实业有限公司",
)
DESIGNER_PATTERNS = (
    "浙江{b}建筑设计研究院有限公司",
    "杭州{b}建筑设计有限公司",
    "浙江{b}设计集团有限公司",
    "杭州{b}市政设计院有限公司",
)
OPERATOR_PATTERNS = ("杭州{b}环境科技有限公司", "浙江{b}环保工程有限公司", "杭州{b}水务运营有限公司")
