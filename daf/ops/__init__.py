"""Operations around a study: `daf doctor`, policy bundles, tournament login and submission,
policy inspection, cluster profiles.

May import: everything but cli.
"""
