"""Demo data for the Vintry brand: HQ, 32 regional marketing centers, warehouses and dealers.

Everything here is plain, immutable data plus one deterministic dealer generator, so seeding
the demo twice yields byte-identical results. Cities and coordinates are real; companies are
invented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "DEALER_TAGS",
    "DEALER_TIERS",
    "HQ_CODE",
    "HQ_DOMAINS",
    "HQ_NAME",
    "HQ_NAME_EN",
    "HQ_WAREHOUSES",
    "NEAR_EXPIRY_DAYS",
    "PROMOTION_SKUS",
    "REGIONS",
    "DemoDealer",
    "DemoRegion",
    "DemoWarehouse",
    "demo_dealers",
]


@dataclass(frozen=True)
class DemoWarehouse:
    """A stock location; ``priority`` 1 is the preferred warehouse for fulfilment."""

    code: str
    name: str
    city: str
    latitude: Decimal
    longitude: Decimal
    priority: int


@dataclass(frozen=True)
class DemoRegion:
    """A regional marketing center, which runs its own mall at ``domain``."""

    code: str
    abbrev: str
    name: str
    name_en: str
    domain: str
    warehouses: tuple[DemoWarehouse, ...]


@dataclass(frozen=True)
class DemoDealer:
    """A dealer (distributor) buying from one regional center."""

    code: str
    name: str
    city: str
    tier: str
    tags: tuple[str, ...]


HQ_CODE = "hq"
HQ_NAME = "总部"
HQ_NAME_EN = "Headquarters"
HQ_DOMAINS: tuple[str, ...] = ("hq.vintry.localhost", "localhost", "127.0.0.1")

DEALER_TIERS: tuple[str, ...] = ("platinum", "gold", "silver", "bronze")
"""Dealer tiers, best first."""

DEALER_TAGS: tuple[str, ...] = (
    "banquet",
    "retail-chain",
    "restaurant",
    "online",
    "corporate-gifts",
    "young-consumers",
    "rural",
)
"""The vocabulary dealer tags are drawn from."""

NEAR_EXPIRY_DAYS = 45
"""How far past the demo's first run the near-expiry SKU's best-before date lies."""

PROMOTION_SKUS: tuple[dict[str, str], ...] = (
    {
        "brand_code": "CHISHUI",
        "brand_name": "赤水河谷 Chishui Valley",
        "category_code": "GLASSWARE",
        "category_name": "酒具 Glassware",
        "product_code": "CS-GLASSWARE",
        "product_name": "赤水河谷 品鉴杯 Tasting glasses",
        "sku_code": "CS-GLASS-6",
        "sku_name": "赤水河谷 品鉴杯六只装 Tasting glass set of 6",
        "volume_ml": "60",
        "abv": "0.0",
        "case_size": "12",
        "base_price": "88.00",
    },
    {
        "brand_code": "JINZUN",
        "brand_name": "金樽 Jinzun",
        "category_code": "LIQUEUR",
        "category_name": "露酒 Liqueur",
        "product_code": "JZ-QINGMEI",
        "product_name": "金樽 青梅酒 Green Plum",
        "sku_code": "JZ-QM-15-500",
        "sku_name": "金樽 青梅酒 Green Plum 15% 500ml",
        "volume_ml": "500",
        "abv": "15.0",
        "case_size": "12",
        "base_price": "128.00",
        "batch": "2024QM1",
    },
)
"""Catalog rows the demo's campaigns need besides the bundled catalog: the glassware east
gives away, and a liqueur whose best-before date (set on the first run,
:data:`NEAR_EXPIRY_DAYS` ahead) makes it the near-expiry stock of the Dutch auction. They
are ordinary SKUs, stocked like the others, but the order history leaves them out."""

_DOMAIN_SUFFIX = ".vintry.localhost"


def _wh(code: str, name: str, city: str, lat: str, lon: str, priority: int) -> DemoWarehouse:
    return DemoWarehouse(code, name, city, Decimal(lat), Decimal(lon), priority)


HQ_WAREHOUSES: tuple[DemoWarehouse, ...] = (
    _wh("WH-HQ-RH", "仁怀酒都总仓", "Renhuai", "27.7913", "106.4017", 1),
    _wh("WH-HQ-CD", "成都青白江枢纽仓", "Chengdu", "30.5728", "104.0668", 2),
    _wh("WH-HQ-WH", "武汉阳逻枢纽仓", "Wuhan", "30.5928", "114.3055", 3),
)
"""The three national hubs HQ ships from, the distillery town first."""


def _region(
    code: str, abbrev: str, name_zh: str, name_en: str, *warehouses: DemoWarehouse
) -> DemoRegion:
    return DemoRegion(
        code=code,
        abbrev=abbrev,
        name=f"{name_zh}营销中心",
        name_en=f"{name_en} Marketing Center",
        domain=f"{code}{_DOMAIN_SUFFIX}",
        warehouses=warehouses,
    )


REGIONS: tuple[DemoRegion, ...] = (
    _region(
        "beijing",
        "BJ",
        "北京",
        "Beijing",
        _wh("WH-BJ-01", "北京顺义仓", "Beijing", "39.9042", "116.4074", 1),
    ),
    _region(
        "tianjin",
        "TJ",
        "天津",
        "Tianjin",
        _wh("WH-TJ-01", "天津滨海仓", "Tianjin", "39.3434", "117.3616", 1),
    ),
    _region(
        "hebei",
        "HE",
        "河北",
        "Hebei",
        _wh("WH-HE-01", "石家庄正定仓", "Shijiazhuang", "38.0428", "114.5149", 1),
        _wh("WH-HE-02", "唐山曹妃甸仓", "Tangshan", "39.6305", "118.1802", 2),
    ),
    _region(
        "shanxi",
        "SX",
        "山西",
        "Shanxi",
        _wh("WH-SX-01", "太原小店仓", "Taiyuan", "37.8706", "112.5489", 1),
        _wh("WH-SX-02", "大同平城仓", "Datong", "40.0768", "113.3001", 2),
    ),
    _region(
        "inner-mongolia",
        "NM",
        "内蒙古",
        "Inner Mongolia",
        _wh("WH-NM-01", "呼和浩特赛罕仓", "Hohhot", "40.8426", "111.7492", 1),
        _wh("WH-NM-02", "包头昆都仑仓", "Baotou", "40.6574", "109.8403", 2),
    ),
    _region(
        "liaoning",
        "LN",
        "辽宁",
        "Liaoning",
        _wh("WH-LN-01", "沈阳于洪仓", "Shenyang", "41.8057", "123.4315", 1),
        _wh("WH-LN-02", "大连金州仓", "Dalian", "38.9140", "121.6147", 2),
    ),
    _region(
        "jilin",
        "JL",
        "吉林",
        "Jilin",
        _wh("WH-JL-01", "长春绿园仓", "Changchun", "43.8171", "125.3235", 1),
        _wh("WH-JL-02", "吉林船营仓", "Jilin", "43.8378", "126.5496", 2),
    ),
    _region(
        "heilongjiang",
        "HL",
        "黑龙江",
        "Heilongjiang",
        _wh("WH-HL-01", "哈尔滨道里仓", "Harbin", "45.8038", "126.5350", 1),
        _wh("WH-HL-02", "大庆萨尔图仓", "Daqing", "46.5893", "125.1036", 2),
    ),
    _region(
        "shanghai",
        "SH",
        "上海",
        "Shanghai",
        _wh("WH-SH-01", "上海嘉定仓", "Shanghai", "31.2304", "121.4737", 1),
    ),
    _region(
        "jiangsu",
        "JS",
        "江苏",
        "Jiangsu",
        _wh("WH-JS-01", "南京江宁仓", "Nanjing", "32.0603", "118.7969", 1),
        _wh("WH-JS-02", "苏州相城仓", "Suzhou", "31.2990", "120.5853", 2),
    ),
    _region(
        "zhejiang",
        "ZJ",
        "浙江",
        "Zhejiang",
        _wh("WH-ZJ-01", "杭州萧山仓", "Hangzhou", "30.2741", "120.1551", 1),
        _wh("WH-ZJ-02", "宁波北仑仓", "Ningbo", "29.8683", "121.5440", 2),
    ),
    _region(
        "anhui",
        "AH",
        "安徽",
        "Anhui",
        _wh("WH-AH-01", "合肥蜀山仓", "Hefei", "31.8206", "117.2272", 1),
        _wh("WH-AH-02", "芜湖鸠江仓", "Wuhu", "31.3526", "118.4331", 2),
    ),
    _region(
        "fujian",
        "FJ",
        "福建",
        "Fujian",
        _wh("WH-FJ-01", "福州仓山仓", "Fuzhou", "26.0745", "119.2965", 1),
        _wh("WH-FJ-02", "厦门同安仓", "Xiamen", "24.4798", "118.0894", 2),
    ),
    _region(
        "jiangxi",
        "JX",
        "江西",
        "Jiangxi",
        _wh("WH-JX-01", "南昌青山湖仓", "Nanchang", "28.6820", "115.8579", 1),
        _wh("WH-JX-02", "赣州章贡仓", "Ganzhou", "25.8310", "114.9350", 2),
    ),
    _region(
        "shandong",
        "SD",
        "山东",
        "Shandong",
        _wh("WH-SD-01", "济南历城仓", "Jinan", "36.6512", "117.1201", 1),
        _wh("WH-SD-02", "青岛胶州仓", "Qingdao", "36.0671", "120.3826", 2),
    ),
    _region(
        "henan",
        "HA",
        "河南",
        "Henan",
        _wh("WH-HA-01", "郑州经开仓", "Zhengzhou", "34.7466", "113.6253", 1),
        _wh("WH-HA-02", "洛阳洛龙仓", "Luoyang", "34.6197", "112.4540", 2),
    ),
    _region(
        "hubei",
        "HB",
        "湖北",
        "Hubei",
        _wh("WH-HB-01", "武汉东西湖仓", "Wuhan", "30.5928", "114.3055", 1),
        _wh("WH-HB-02", "宜昌猇亭仓", "Yichang", "30.6919", "111.2865", 2),
    ),
    _region(
        "hunan",
        "HN",
        "湖南",
        "Hunan",
        _wh("WH-HN-01", "长沙望城仓", "Changsha", "28.2282", "112.9388", 1),
        _wh("WH-HN-02", "衡阳雁峰仓", "Hengyang", "26.8968", "112.5719", 2),
    ),
    _region(
        "guangdong",
        "GD",
        "广东",
        "Guangdong",
        _wh("WH-GD-01", "广州白云仓", "Guangzhou", "23.1291", "113.2644", 1),
        _wh("WH-GD-02", "深圳龙岗仓", "Shenzhen", "22.5431", "114.0579", 2),
    ),
    _region(
        "guangxi",
        "GX",
        "广西",
        "Guangxi",
        _wh("WH-GX-01", "南宁江南仓", "Nanning", "22.8170", "108.3665", 1),
        _wh("WH-GX-02", "桂林临桂仓", "Guilin", "25.2736", "110.2900", 2),
    ),
    _region(
        "hainan",
        "HI",
        "海南",
        "Hainan",
        _wh("WH-HI-01", "海口美兰仓", "Haikou", "20.0440", "110.1999", 1),
        _wh("WH-HI-02", "三亚吉阳仓", "Sanya", "18.2528", "109.5119", 2),
    ),
    _region(
        "chongqing",
        "CQ",
        "重庆",
        "Chongqing",
        _wh("WH-CQ-01", "重庆两江仓", "Chongqing", "29.5630", "106.5516", 1),
    ),
    _region(
        "sichuan",
        "SC",
        "四川",
        "Sichuan",
        _wh("WH-SC-01", "成都双流仓", "Chengdu", "30.5728", "104.0668", 1),
        _wh("WH-SC-02", "绵阳涪城仓", "Mianyang", "31.4678", "104.6791", 2),
    ),
    _region(
        "guizhou",
        "GZ",
        "贵州",
        "Guizhou",
        _wh("WH-GZ-01", "贵阳观山湖仓", "Guiyang", "26.6470", "106.6302", 1),
        _wh("WH-GZ-02", "遵义汇川仓", "Zunyi", "27.7256", "106.9272", 2),
    ),
    _region(
        "yunnan",
        "YN",
        "云南",
        "Yunnan",
        _wh("WH-YN-01", "昆明官渡仓", "Kunming", "24.8801", "102.8329", 1),
        _wh("WH-YN-02", "大理下关仓", "Dali", "25.6065", "100.2676", 2),
    ),
    _region(
        "tibet",
        "XZ",
        "西藏",
        "Tibet",
        _wh("WH-XZ-01", "拉萨堆龙仓", "Lhasa", "29.6520", "91.1721", 1),
    ),
    _region(
        "shaanxi",
        "SN",
        "陕西",
        "Shaanxi",
        _wh("WH-SN-01", "西安港务仓", "Xi'an", "34.3416", "108.9398", 1),
        _wh("WH-SN-02", "宝鸡渭滨仓", "Baoji", "34.3619", "107.2373", 2),
    ),
    _region(
        "gansu",
        "GS",
        "甘肃",
        "Gansu",
        _wh("WH-GS-01", "兰州新区仓", "Lanzhou", "36.0611", "103.8343", 1),
        _wh("WH-GS-02", "天水麦积仓", "Tianshui", "34.5809", "105.7249", 2),
    ),
    _region(
        "qinghai",
        "QH",
        "青海",
        "Qinghai",
        _wh("WH-QH-01", "西宁城北仓", "Xining", "36.6171", "101.7782", 1),
    ),
    _region(
        "ningxia",
        "NX",
        "宁夏",
        "Ningxia",
        _wh("WH-NX-01", "银川金凤仓", "Yinchuan", "38.4872", "106.2309", 1),
    ),
    _region(
        "xinjiang",
        "XJ",
        "新疆",
        "Xinjiang",
        _wh("WH-XJ-01", "乌鲁木齐米东仓", "Urumqi", "43.8256", "87.6168", 1),
        _wh("WH-XJ-02", "喀什疏附仓", "Kashgar", "39.4704", "75.9898", 2),
    ),
    _region(
        "hk-macau",
        "HKM",
        "港澳",
        "Hong Kong & Macau",
        _wh("WH-HKM-01", "香港葵涌仓", "Hong Kong", "22.3193", "114.1694", 1),
        _wh("WH-HKM-02", "澳门氹仔仓", "Macau", "22.1987", "113.5439", 2),
    ),
)
"""The 32 regional centers: the 31 mainland provincial-level divisions in official
(GB/T 2260) order, then Hong Kong & Macau. Each region's warehouses sit in its own cities,
the capital first with priority 1."""

_DEALER_CITIES: dict[str, tuple[tuple[str, str], ...]] = {
    "beijing": (("Beijing", "北京"),),
    "tianjin": (("Tianjin", "天津"),),
    "hebei": (
        ("Shijiazhuang", "石家庄"),
        ("Tangshan", "唐山"),
        ("Baoding", "保定"),
        ("Handan", "邯郸"),
    ),
    "shanxi": (("Taiyuan", "太原"), ("Datong", "大同"), ("Changzhi", "长治")),
    "inner-mongolia": (
        ("Hohhot", "呼和浩特"),
        ("Baotou", "包头"),
        ("Ordos", "鄂尔多斯"),
        ("Chifeng", "赤峰"),
    ),
    "liaoning": (("Shenyang", "沈阳"), ("Dalian", "大连"), ("Anshan", "鞍山")),
    "jilin": (("Changchun", "长春"), ("Jilin", "吉林"), ("Yanji", "延吉")),
    "heilongjiang": (("Harbin", "哈尔滨"), ("Daqing", "大庆"), ("Qiqihar", "齐齐哈尔")),
    "shanghai": (("Shanghai", "上海"),),
    "jiangsu": (("Nanjing", "南京"), ("Suzhou", "苏州"), ("Wuxi", "无锡"), ("Xuzhou", "徐州")),
    "zhejiang": (("Hangzhou", "杭州"), ("Ningbo", "宁波"), ("Wenzhou", "温州")),
    "anhui": (("Hefei", "合肥"), ("Wuhu", "芜湖"), ("Bengbu", "蚌埠")),
    "fujian": (("Fuzhou", "福州"), ("Xiamen", "厦门"), ("Quanzhou", "泉州")),
    "jiangxi": (("Nanchang", "南昌"), ("Ganzhou", "赣州"), ("Jiujiang", "九江")),
    "shandong": (("Jinan", "济南"), ("Qingdao", "青岛"), ("Yantai", "烟台"), ("Linyi", "临沂")),
    "henan": (("Zhengzhou", "郑州"), ("Luoyang", "洛阳"), ("Nanyang", "南阳")),
    "hubei": (("Wuhan", "武汉"), ("Yichang", "宜昌"), ("Xiangyang", "襄阳")),
    "hunan": (("Changsha", "长沙"), ("Hengyang", "衡阳"), ("Yueyang", "岳阳")),
    "guangdong": (
        ("Guangzhou", "广州"),
        ("Shenzhen", "深圳"),
        ("Dongguan", "东莞"),
        ("Foshan", "佛山"),
    ),
    "guangxi": (("Nanning", "南宁"), ("Guilin", "桂林"), ("Liuzhou", "柳州")),
    "hainan": (("Haikou", "海口"), ("Sanya", "三亚")),
    "chongqing": (("Chongqing", "重庆"),),
    "sichuan": (("Chengdu", "成都"), ("Mianyang", "绵阳"), ("Yibin", "宜宾")),
    "guizhou": (("Guiyang", "贵阳"), ("Zunyi", "遵义"), ("Liupanshui", "六盘水")),
    "yunnan": (("Kunming", "昆明"), ("Dali", "大理"), ("Qujing", "曲靖")),
    "tibet": (("Lhasa", "拉萨"), ("Shigatse", "日喀则")),
    "shaanxi": (("Xi'an", "西安"), ("Baoji", "宝鸡"), ("Yulin", "榆林")),
    "gansu": (("Lanzhou", "兰州"), ("Tianshui", "天水"), ("Jiuquan", "酒泉")),
    "qinghai": (("Xining", "西宁"), ("Golmud", "格尔木")),
    "ningxia": (("Yinchuan", "银川"), ("Shizuishan", "石嘴山")),
    "xinjiang": (("Urumqi", "乌鲁木齐"), ("Kashgar", "喀什"), ("Karamay", "克拉玛依")),
    "hk-macau": (("Hong Kong", "香港"), ("Macau", "澳门")),
}
"""Per region, the cities dealers sit in as (English, Chinese); warehouse cities come first."""

_NAME_CORES: tuple[str, ...] = (
    "华酿",
    "鼎盛",
    "瑞丰",
    "金樽",
    "嘉禾",
    "宏图",
    "聚福",
    "泰和",
    "恒源",
    "盛世",
    "福瑞",
    "德润",
    "和信",
    "永兴",
    "汇通",
    "佳酿",
)
_NAME_SUFFIXES: tuple[str, ...] = (
    "商贸有限公司",
    "酒业有限公司",
    "贸易有限公司",
    "酒类销售有限公司",
    "供应链管理有限公司",
    "食品有限公司",
)
_TIER_PATTERN: tuple[str, ...] = ("platinum", "gold", "silver", "gold", "silver", "bronze")
_MAX_DEALERS = 999


def _seed(code: str) -> int:
    """A stable number derived from a region code (``hash()`` is salted per process)."""
    return sum((i + 1) * ord(ch) for i, ch in enumerate(code))


def _dealer_cities(region: DemoRegion) -> tuple[tuple[str, str], ...]:
    cities = _DEALER_CITIES.get(region.code)
    if cities:
        return cities
    city_zh = region.name.removesuffix("营销中心")
    fallback = tuple(dict.fromkeys((w.city, city_zh) for w in region.warehouses))
    if not fallback:
        raise ValueError(f"region {region.code!r} has no known cities")
    return fallback


def demo_dealers(region: DemoRegion, count: int = 6) -> tuple[DemoDealer, ...]:
    """Return ``count`` invented dealers for ``region``, the same ones on every call.

    Codes are ``D-{abbrev}-001`` upward. Tiers cycle through a fixed pattern (for six
    dealers: one platinum, two gold, two silver, one bronze); each dealer gets one or two
    tags from :data:`DEALER_TAGS`. Names are unique within a region for up to 96 dealers.
    """
    if not 0 <= count <= _MAX_DEALERS:
        raise ValueError(f"count must be between 0 and {_MAX_DEALERS}, got {count}")
    cities = _dealer_cities(region)
    seed = _seed(region.code)
    n_cores, n_suffixes, n_tags = len(_NAME_CORES), len(_NAME_SUFFIXES), len(DEALER_TAGS)
    dealers: list[DemoDealer] = []
    for i in range(count):
        city_en, city_zh = cities[i % len(cities)]
        core = _NAME_CORES[(seed + 5 * i) % n_cores]
        suffix = _NAME_SUFFIXES[(seed + i + i // n_cores) % n_suffixes]
        first = (seed + 3 * i) % n_tags
        tags: tuple[str, ...] = (DEALER_TAGS[first],)
        if (seed + i) % 3:
            second = (first + 1 + (seed + i) % (n_tags - 1)) % n_tags
            tags = (DEALER_TAGS[first], DEALER_TAGS[second])
        dealers.append(
            DemoDealer(
                code=f"D-{region.abbrev}-{i + 1:03d}",
                name=f"{city_zh}{core}{suffix}",
                city=city_en,
                tier=_TIER_PATTERN[i % len(_TIER_PATTERN)],
                tags=tags,
            )
        )
    return tuple(dealers)


def _check() -> None:
    """Assert the invariants of this module's data; meant for tests, not run at import."""
    region_code_re = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
    entity_code_re = re.compile(r"^[A-Z0-9-]{3,32}$")
    abbrev_re = re.compile(r"^[A-Z]{2,4}$")

    def check_warehouse(w: DemoWarehouse) -> None:
        assert entity_code_re.match(w.code), w.code
        assert w.name and w.city, w
        assert 1 <= w.priority <= 9, w
        for value in (w.latitude, w.longitude):
            assert value.as_tuple().exponent == -4, w
        assert Decimal(18) <= w.latitude <= Decimal(54), w
        assert Decimal(73) <= w.longitude <= Decimal(136), w

    assert len(REGIONS) == 32, len(REGIONS)
    assert HQ_CODE not in {r.code for r in REGIONS}
    assert HQ_DOMAINS[0] == f"{HQ_CODE}{_DOMAIN_SUFFIX}"
    assert len(HQ_WAREHOUSES) == 3
    assert DEALER_TIERS == ("platinum", "gold", "silver", "bronze")
    assert set(_TIER_PATTERN) <= set(DEALER_TIERS)
    assert len(set(DEALER_TAGS)) == len(DEALER_TAGS)
    assert len(set(_NAME_CORES)) == len(_NAME_CORES)
    assert len(set(_NAME_SUFFIXES)) == len(_NAME_SUFFIXES)

    for w in HQ_WAREHOUSES:
        check_warehouse(w)
    assert sorted(w.priority for w in HQ_WAREHOUSES) == [1, 2, 3]

    for label, values in (
        ("region code", [r.code for r in REGIONS]),
        ("abbrev", [r.abbrev for r in REGIONS]),
        ("domain", [*HQ_DOMAINS, *(r.domain for r in REGIONS)]),
        ("region name", [r.name for r in REGIONS]),
        ("region name_en", [r.name_en for r in REGIONS]),
        (
            "warehouse code",
            [w.code for r in REGIONS for w in r.warehouses] + [w.code for w in HQ_WAREHOUSES],
        ),
        (
            "warehouse name",
            [w.name for r in REGIONS for w in r.warehouses] + [w.name for w in HQ_WAREHOUSES],
        ),
    ):
        assert len(set(values)) == len(values), f"duplicate {label}"

    assert set(_DEALER_CITIES) == {r.code for r in REGIONS}
    all_dealer_codes: list[str] = []
    for r in REGIONS:
        assert region_code_re.match(r.code), r.code
        assert abbrev_re.match(r.abbrev), r.abbrev
        assert r.domain == f"{r.code}{_DOMAIN_SUFFIX}", r.domain
        assert r.name.endswith("营销中心"), r.name
        assert r.name_en.endswith(" Marketing Center"), r.name_en
        assert 1 <= len(r.warehouses) <= 2, r.code
        assert r.warehouses[0].priority == 1, r.code
        assert [w.priority for w in r.warehouses] == sorted({w.priority for w in r.warehouses})
        cities = _DEALER_CITIES[r.code]
        city_names = [en for en, _ in cities]
        assert len(set(city_names)) == len(city_names), r.code
        assert [w.city for w in r.warehouses] == city_names[: len(r.warehouses)], r.code
        for w in r.warehouses:
            check_warehouse(w)
            assert w.code.startswith(f"WH-{r.abbrev}-"), w.code

        dealers = demo_dealers(r)
        assert dealers == demo_dealers(r), r.code
        assert len(dealers) == 6
        assert sorted(d.tier for d in dealers) == sorted(
            ["platinum", "gold", "gold", "silver", "silver", "bronze"]
        )
        for count in (1, 3, 12, 96):
            many = demo_dealers(r, count)
            assert len(many) == count
            assert len({d.name for d in many}) == count, (r.code, count)
        for d in demo_dealers(r, 12):
            assert entity_code_re.match(d.code), d.code
            assert d.code.startswith(f"D-{r.abbrev}-"), d.code
            assert d.city in city_names, d
            assert d.tier in DEALER_TIERS, d
            assert 1 <= len(d.tags) <= 2, d
            assert len(set(d.tags)) == len(d.tags), d
            assert set(d.tags) <= set(DEALER_TAGS), d
            assert d.name.endswith("有限公司"), d
        all_dealer_codes.extend(d.code for d in dealers)
    assert len(set(all_dealer_codes)) == len(all_dealer_codes), "duplicate dealer code"
