"""Records what the plots of motecli.eval.plots hold, as matplotlib draws them, before
each file is saved: tests check the data handed to the plotting code, not PNG bytes."""

from __future__ import annotations


def _figure_data(fig) -> dict:
    fig.canvas.draw()  # lays out the categorical tick labels
    ax = fig.axes[0]
    legend = ax.get_legend()
    return dict(
        bars=[(label.get_text(), bar.get_width()) for label, bar in zip(ax.get_yticklabels(), ax.patches)],
        lines=[line.get_xydata().tolist() for line in ax.lines],
        points=[tuple(c.get_offsets()[0].tolist()) for c in ax.collections if len(c.get_offsets())],
        legend=[text.get_text() for text in legend.get_texts()] if legend else [],
        title=ax.get_title(),
    )


def spy_on_plots(monkeypatch) -> dict:
    """{png path name: figure data}, filled as plots are saved."""
    from motecli.eval import plots

    drawn: dict = {}
    save = plots._save

    def spy(fig, path):
        drawn[path.name] = _figure_data(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    return drawn
