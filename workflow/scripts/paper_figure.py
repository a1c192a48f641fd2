import sys

sys.stderr = open(snakemake.log[0], "w")

import matplotlib

matplotlib.use("Agg")

from gan.report.figures.papers import make_paper_figure

out = snakemake.output
written = make_paper_figure(snakemake.params.stage, snakemake.input.data, figure_paths=[out.pdf, out.png],
                            table_csv=out.table_csv, table_html=out.table_html)
print({k: [str(p) for p in v] for k, v in written.items()}, file=sys.stderr)
