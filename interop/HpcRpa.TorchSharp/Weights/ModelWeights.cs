using HpcRpa.Errors;
using HpcRpa.TorchSharp.Model;
using HpcRpa.TorchSharp.Runtime;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Weights;

/// <summary>Loads weights saved from PyTorch into the Llama model: TorchSharp's .dat (exportsd.py) or safetensors.</summary>
public static class ModelWeights
{
    /// <summary>TorchSharp's own format, which exportsd.py writes from a PyTorch state_dict.</summary>
    public static void LoadDat(LlamaModel model, string path)
    {
        TorchRuntime.EnsureLoaded();
        model.load(path, strict: true);
    }

    public static void SaveDat(LlamaModel model, string path)
    {
        TorchRuntime.EnsureLoaded();
        model.save(path);
    }

    /// <summary>Copies every parameter from a safetensors file; names are the model's state_dict keys. Missing, extra or misshaped tensors are errors.</summary>
    public static void LoadSafeTensors(LlamaModel model, string path)
    {
        TorchRuntime.EnsureLoaded();
        var tensors = SafeTensors.Load(path);
        var state = model.state_dict();
        foreach (var name in tensors.Keys)
            if (!state.ContainsKey(name)) throw new ValidationException("safetensors", null, name, "is not a parameter of the model");
        using var noGrad = no_grad();
        foreach (var (name, p) in state)
        {
            if (!tensors.TryGetValue(name, out var t)) throw new ValidationException("safetensors", null, name, "is missing from the file");
            if (!t.shape.SequenceEqual(p.shape))
                throw new ValidationException($"safetensors.{name}.shape", null, "[" + string.Join(", ", t.shape) + "]", "must be [" + string.Join(", ", p.shape) + "]");
            p.copy_(t.to_type(p.dtype));
        }
        foreach (var t in tensors.Values) t.Dispose();
    }

    public static void SaveSafeTensors(LlamaModel model, string path)
    {
        TorchRuntime.EnsureLoaded();
        SafeTensors.Save(path, model.state_dict());
    }
}
