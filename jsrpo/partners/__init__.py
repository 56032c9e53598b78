"""Held-out scripted partners, found by environment name through one registry.

``jsrpo.partners.parse("coop_grid", "single_source:source=1", seat=1)`` builds a partner;
``register(PartnerSet(...))`` adds the partners of your own environment. The built-in sets are
``partners.coop_grid``, ``partners.overcooked`` (both Overcooked versions),
``partners.hanabi``, ``partners.tag`` and ``partners.matrix``.
"""
from jsrpo.partners import coop_grid, hanabi, matrix, overcooked, tag
from jsrpo.partners.registry import (
                                     PartnerSet,
                                     default_specs,
                                     envs_with_partners,
                                     get,
                                     parse,
                                     parse_all,
                                     register,
                                     sets,
)

register(coop_grid.PARTNERS)
register(overcooked.PARTNERS)
register(hanabi.PARTNERS)
register(tag.PARTNERS)
register(matrix.PARTNERS)

__all__ = ["PartnerSet", "default_specs", "envs_with_partners", "get", "parse", "parse_all",
           "register", "sets"]
