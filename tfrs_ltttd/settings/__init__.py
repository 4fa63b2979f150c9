"""Settings: the one validation every settings dataclass and the command line
share."""

from tfrs_ltttd.settings.ranges import (NON_NEGATIVE, NON_NEGATIVE_INT,
                                        OPEN_SHARE, POSITIVE, POSITIVE_INT,
                                        SEED, SHARE, Range, check, range_of,
                                        setting)
