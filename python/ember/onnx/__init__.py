"""``ember.onnx`` (torch.onnx): importable, so programs that import it run. Export itself needs
ember's graph capture, which has not landed; until then ``export`` raises one clear error."""


class OnnxExporterError(RuntimeError):
    """Raised where an ONNX export cannot be made."""


def export(model, args=(), f=None, *unused_args, **unused_kwargs):
    raise OnnxExporterError(
        "ember.onnx.export needs ember's graph capture, which has not landed yet: no ONNX file was "
        "written. Save the weights with ember.save(model.state_dict(), path) meanwhile.")


def is_in_onnx_export():
    return False
