"""The episode mapper the service uses: QĐ 130 tables read (:mod:`.tables`) and mapped to a FHIR
document Bundle (:mod:`.mapping`)."""

from __future__ import annotations

from collections.abc import Sequence

from api.insurance import mapping, schemas, tables
from api.insurance.service import MappedEpisode


class XmlEpisodeMapper:
    """:class:`~api.insurance.service.EpisodeMapper` over the tables reader and the mapping."""

    def map(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        facility_code: str,
        facility_name: str,
        max_file_bytes: int,
    ) -> MappedEpisode:
        episode, problems = tables.read_episode(files, max_file_bytes=max_file_bytes)
        found = [
            schemas.EpisodeProblem(
                table=p.table,
                ma_lk=p.ma_lk,
                field=p.field,
                value=None if p.value is None else p.value[:200],
                rule=p.rule,
                row=p.row,
            )
            for p in problems
        ]
        if episode is None:
            ma_lk = next((p.ma_lk for p in found if p.ma_lk), None)
            return MappedEpisode(ma_lk=ma_lk, bundle=None, problems=found, restricted=False)
        bundle = mapping.episode_to_bundle(
            episode, facility_code=facility_code, facility_name=facility_name
        )
        return MappedEpisode(
            ma_lk=episode.ma_lk,
            bundle=bundle,
            problems=found,
            restricted=mapping.episode_is_restricted(episode),
        )
