"""ISO 639 language codes: match `eng`, `en` and `fre`/`fra` as the same language.

`tracks` calls `normalise` on the languages a spec asks for and on the
language tags of the source's tracks, so a spec may name a language by its
ISO 639-1 code (`en`), its ISO 639-2/T code (`deu`) or its ISO 639-2/B code
(`ger`, what Matroska files usually carry) and still find the track; `bcp47`
gives the tag streaming manifests use (`en`). The
tables are Debian's iso-codes `iso_639-2.json` (the 184 two-letter codes and
the 20 bibliographic variants), packed as strings. Pure.
"""

from __future__ import annotations

# "aaaar" = ISO 639-1 "aa" -> ISO 639-2/T "aar".
_ALPHA2 = (
    "aaaar ababk aeave afafr akaka amamh anarg arara asasm avava ayaym azaze babak bebel "
    "bgbul bhbih bibis bmbam bnben bobod brbre bsbos cacat ceche chcha cocos crcre csces "
    "cuchu cvchv cycym dadan dedeu dvdiv dzdzo eeewe elell eneng eoepo esspa etest eueus "
    "fafas ffful fifin fjfij fofao frfra fyfry gagle gdgla glglg gngrn guguj gvglv hahau "
    "heheb hihin hohmo hrhrv hthat huhun hyhye hzher iaina idind ieile igibo iiiii ikipk "
    "ioido isisl itita iuiku jajpn jvjav kakat kgkon kikik kjkua kkkaz klkal kmkhm knkan "
    "kokor krkau kskas kukur kvkom kwcor kykir lalat lbltz lglug lilim lnlin lolao ltlit "
    "lulub lvlav mgmlg mhmah mimri mkmkd mlmal mnmon mrmar msmsa mtmlt mymya nanau nbnob "
    "ndnde nenep ngndo nlnld nnnno nonor nrnbl nvnav nynya ococi ojoji omorm orori ososs "
    "papan pipli plpol pspus ptpor quque rmroh rnrun roron rurus rwkin sasan scsrd sdsnd "
    "sesme sgsag sisin skslk slslv smsmo snsna sosom sqsqi srsrp ssssw stsot susun svswe "
    "swswa tatam tetel tgtgk ththa titir tktuk tltgl tntsn toton trtur tstso tttat twtwi "
    "tytah uguig ukukr ururd uzuzb veven vivie vovol wawln wowol xhxho yiyid yoyor zazha "
    "zhzho zuzul "
)
# "albsqi" = ISO 639-2/B "alb" -> ISO 639-2/T "sqi".
_BIBLIOGRAPHIC = (
    "albsqi armhye baqeus burmya chizho czeces dutnld frefra geokat gerdeu greell iceisl "
    "macmkd maomri maymsa perfas rumron sloslk tibbod welcym "
)
_TO_T: dict[str, str] = {
    **{pair[:2]: pair[2:] for pair in _ALPHA2.split()},
    **{pair[:3]: pair[3:] for pair in _BIBLIOGRAPHIC.split()},
}
UNDETERMINED = frozenset({"und", "mul", "zxx", "mis", ""})
"""Tags that name no language (undetermined, multiple, no linguistic content, missing)."""


def normalise(code: str | None) -> str | None:
    """The ISO 639-2/T code for `code` (any case), or None when it names no language.

    Unknown three-letter codes are returned lower-cased as they are (ISO 639-2
    has about 480 codes; only the two-letter and bibliographic forms need mapping).
    """
    value = (code or "").strip().lower()
    if value in UNDETERMINED:
        return None
    return _TO_T.get(value, value)


_TO_ALPHA2: dict[str, str] = {pair[2:]: pair[:2] for pair in _ALPHA2.split()}


def bcp47(code: str | None) -> str | None:
    """The BCP 47 tag HLS and DASH manifests name a language by: the ISO 639-1 code
    when one exists (`eng`, `en`, `ENG` -> `en`), else the ISO 639-2/T code; None for none."""
    terminology = normalise(code)
    return None if terminology is None else _TO_ALPHA2.get(terminology, terminology)
