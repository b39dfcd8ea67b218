using Mlx.Formats;

namespace Mlx.Nn;

/// <summary>
/// A layer or model: a tree of named parameters and child modules, as mlx.nn.Module. Parameters and children
/// are registered explicitly (no reflection), and their flattened names are dotted as MLX gives them
/// ("layers.0.weight").
/// </summary>
public abstract class Module
{
    private readonly List<string> _paramOrder = new();
    private readonly Dictionary<string, MxArray> _params = new(StringComparer.Ordinal);
    private readonly List<(string Name, Module Module)> _children = new();
    private readonly HashSet<string> _frozen = new(StringComparer.Ordinal);

    /// <summary>True in training mode (dropout active, batch norm updating statistics).</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Registers (or replaces) a parameter.</summary>
    protected MxArray Param(string name, MxArray value)
    {
        if (!_params.ContainsKey(name)) _paramOrder.Add(name);
        DisposeScope.Detach(value);
        _params[name] = value;
        return value;
    }

    /// <summary>A parameter's current value.</summary>
    protected MxArray P(string name) => _params[name];

    protected bool HasParam(string name) => _params.ContainsKey(name);

    /// <summary>Registers a child module under <paramref name="name"/>.</summary>
    protected T Child<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        return module;
    }

    public IReadOnlyList<(string Name, Module Module)> Children() => _children;

    /// <summary>The forward pass of single-input modules.</summary>
    public abstract MxArray Forward(MxArray x);

    /// <summary>Same as <see cref="Forward"/>.</summary>
    public MxArray Call(MxArray x) => Forward(x);

    /// <summary>Every parameter, flattened with dotted names, in registration order.</summary>
    public Dictionary<string, MxArray> Parameters()
    {
        var result = new Dictionary<string, MxArray>(StringComparer.Ordinal);
        Collect("", result, trainableOnly: false);
        return result;
    }

    /// <summary>The parameters not frozen.</summary>
    public Dictionary<string, MxArray> TrainableParameters()
    {
        var result = new Dictionary<string, MxArray>(StringComparer.Ordinal);
        Collect("", result, trainableOnly: true);
        return result;
    }

    private void Collect(string prefix, Dictionary<string, MxArray> into, bool trainableOnly)
    {
        foreach (var name in _paramOrder)
        {
            if (!trainableOnly || !_frozen.Contains(name)) into[prefix + name] = _params[name];
        }
        foreach (var (name, child) in _children)
        {
            child.Collect(prefix + name + ".", into, trainableOnly);
        }
    }

    /// <summary>Replaces parameters by dotted name; unknown names throw. Shapes may change (as MLX's update).</summary>
    public void Update(IReadOnlyDictionary<string, MxArray> parameters)
    {
        foreach (var (name, value) in parameters)
        {
            if (!TrySet(name, value)) throw new KeyNotFoundException($"The module has no parameter '{name}'.");
        }
    }

    private bool TrySet(string dotted, MxArray value)
    {
        if (_params.ContainsKey(dotted))
        {
            DisposeScope.Detach(value);
            _params[dotted] = value;
            return true;
        }
        int dot = dotted.IndexOf('.');
        if (dot < 0) return false;
        string head = dotted[..dot];
        foreach (var (name, child) in _children)
        {
            if (name == head) return child.TrySet(dotted[(dot + 1)..], value);
        }
        return false;
    }

    /// <summary>Freezes all parameters (or those named) of this module and its children.</summary>
    public Module Freeze(IEnumerable<string>? keys = null, bool recurse = true)
    {
        foreach (var k in keys ?? _paramOrder) _frozen.Add(k);
        if (recurse && keys is null) foreach (var (_, c) in _children) c.Freeze();
        return this;
    }

    public virtual Module Unfreeze(IEnumerable<string>? keys = null, bool recurse = true)
    {
        if (keys is null) _frozen.Clear(); else foreach (var k in keys) _frozen.Remove(k);
        if (recurse && keys is null) foreach (var (_, c) in _children) c.Unfreeze();
        // A quantized layer's own parameters stay frozen, as MLX's: train adapters beside them instead.
        if (QuantizedAs is not null) Freeze(recurse: false);
        return this;
    }

    /// <summary>How this module's weight is quantized (a quantized layer), or null.</summary>
    private protected QuantizationSpec? QuantizedAs { get; private set; }

    /// <summary>A quantized layer's affine biases (the floating-point modes have none).</summary>
    private protected MxArray? Biases => HasParam("biases") ? P("biases") : null;

    /// <summary>
    /// Registers the quantization of <paramref name="weight"/> as the parameters "weight" (codes), "scales" and, for
    /// affine quantization, "biases" (MLX's names); the module's own parameters are frozen once the caller has
    /// registered the rest, and stay frozen through <see cref="Unfreeze"/>.
    /// </summary>
    private protected void QuantizeWeight(MxArray weight, QuantizationSpec spec)
    {
        if (QuantizedAs is not null) throw new InvalidOperationException($"{GetType().Name} is already quantized.");
        var (q, s, b) = Mx.Quantize(weight, spec.GroupSize, spec.Bits, spec.Mode);
        Param("weight", q);
        Param("scales", s);
        if (b is not null) Param("biases", b);
        QuantizedAs = spec;
    }

    /// <summary>Quantizes this module's own "weight" in place and freezes its parameters (nn.Quantize on Linear and Embedding).</summary>
    internal void QuantizeOwnWeight(QuantizationSpec spec)
    {
        QuantizeWeight(P("weight"), spec);
        Freeze(recurse: false);
    }

    public Module Train(bool mode = true)
    {
        Training = mode;
        foreach (var (_, c) in _children) c.Train(mode);
        return this;
    }

    public Module Eval() => Train(false);

    /// <summary>Maps every parameter through <paramref name="fn"/>.</summary>
    public Module Apply(Func<MxArray, MxArray> fn)
    {
        Update(Parameters().ToDictionary(kv => kv.Key, kv => fn(kv.Value)));
        return this;
    }

    /// <summary>Casts floating-point parameters to <paramref name="dtype"/>.</summary>
    public Module SetDType(DType dtype) => Apply(p => p.DType.IsFloating() ? Mx.AsType(p, dtype) : p);

    /// <summary>Saves the parameters to .safetensors or .npz (by extension).</summary>
    public void SaveWeights(string path)
    {
        var ps = Parameters();
        Mx.Eval(ps.Values);
        if (path.EndsWith(".npz", StringComparison.Ordinal)) Mx.Savez(path, ps);
        else if (path.EndsWith(".safetensors", StringComparison.Ordinal)) Mx.SaveSafetensors(path, ps);
        else throw new ArgumentException($"Weights are saved as .safetensors or .npz; '{path}' is neither.");
    }

    /// <summary>
    /// Loads parameters from .safetensors or .npz. With <paramref name="strict"/>, missing, extra or mis-shaped
    /// names are refused (all of them named) before anything changes.
    /// </summary>
    public Module LoadWeights(string path, bool strict = true, LoadOptions? options = null)
    {
        var loaded = Mx.Load(path, options);
        var current = Parameters();
        if (strict)
        {
            var missing = current.Keys.Where(k => !loaded.ContainsKey(k)).ToList();
            var extra = loaded.Keys.Where(k => !current.ContainsKey(k)).ToList();
            var shape = current.Keys.Where(k => loaded.ContainsKey(k) && !loaded[k].ShapeRef.SequenceEqual(current[k].ShapeRef))
                .Select(k => $"{k} {MxArray.FormatShape(loaded[k].ShapeRef)} instead of {MxArray.FormatShape(current[k].ShapeRef)}").ToList();
            var problems = new List<string>();
            if (missing.Count > 0) problems.Add("missing: " + string.Join(", ", missing));
            if (extra.Count > 0) problems.Add("unexpected: " + string.Join(", ", extra));
            if (shape.Count > 0) problems.Add("wrong shape: " + string.Join(", ", shape));
            if (problems.Count > 0) throw new ArgumentException($"{path} does not match the model ({string.Join("; ", problems)}).");
        }
        Update(loaded.Where(kv => current.ContainsKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value));
        return this;
    }
}

/// <summary>Helpers over nested parameter trees (dictionaries, lists, arrays), as mlx.utils.</summary>
public static class Tree
{
    /// <summary>Flattens nested dictionaries and lists of arrays into dotted names.</summary>
    public static List<(string Name, MxArray Value)> Flatten(object tree, string prefix = "")
    {
        var result = new List<(string, MxArray)>();
        void Walk(object node, string path)
        {
            switch (node)
            {
                case MxArray a:
                    result.Add((path, a));
                    break;
                case IDictionary<string, object> d:
                    foreach (var (k, v) in d) Walk(v, path.Length == 0 ? k : path + "." + k);
                    break;
                case IDictionary<string, MxArray> d:
                    foreach (var (k, v) in d) Walk(v, path.Length == 0 ? k : path + "." + k);
                    break;
                case System.Collections.IList l:
                    for (int i = 0; i < l.Count; i++) Walk(l[i]!, path.Length == 0 ? i.ToString() : path + "." + i);
                    break;
                default:
                    throw new ArgumentException($"Cannot flatten a {node.GetType().Name}.");
            }
        }
        Walk(tree, prefix);
        return result;
    }

    /// <summary>
    /// A tree of the same structure as <paramref name="tree"/> with its leaves replaced, in <see cref="Flatten"/>'s
    /// order, by <paramref name="leaves"/> (dictionaries become <c>Dictionary&lt;string, object&gt;</c>, lists <c>List&lt;object&gt;</c>).
    /// </summary>
    public static object Rebuild(object tree, Queue<MxArray> leaves) => tree switch
    {
        MxArray => leaves.Dequeue(),
        IDictionary<string, object> d => d.ToDictionary(kv => kv.Key, kv => Rebuild(kv.Value, leaves), StringComparer.Ordinal),
        IDictionary<string, MxArray> d => d.ToDictionary(kv => kv.Key, kv => Rebuild(kv.Value, leaves), StringComparer.Ordinal),
        System.Collections.IList l => l.Cast<object>().Select(v => Rebuild(v, leaves)).ToList(),
        _ => throw new ArgumentException($"Cannot rebuild a {tree.GetType().Name}."),
    };

    /// <summary>Rebuilds nested dictionaries (lists where all keys of a level are 0..n-1) from dotted names.</summary>
    public static object Unflatten(IEnumerable<(string Name, MxArray Value)> flat)
    {
        var root = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (name, value) in flat)
        {
            var parts = name.Split('.');
            var node = root;
            for (int i = 0; i < parts.Length - 1; i++)
            {
                if (!node.TryGetValue(parts[i], out var next)) node[parts[i]] = next = new Dictionary<string, object>(StringComparer.Ordinal);
                node = (Dictionary<string, object>)next;
            }
            node[parts[^1]] = value;
        }
        return ToLists(root);
    }

    private static object ToLists(object node)
    {
        if (node is not Dictionary<string, object> d) return node;
        var converted = d.ToDictionary(kv => kv.Key, kv => ToLists(kv.Value), StringComparer.Ordinal);
        bool isList = converted.Count > 0 && Enumerable.Range(0, converted.Count).All(i => converted.ContainsKey(i.ToString()));
        return isList ? Enumerable.Range(0, converted.Count).Select(i => converted[i.ToString()]).ToList() : converted;
    }

    /// <summary>Maps every array leaf of a flat dictionary.</summary>
    public static Dictionary<string, MxArray> Map(IReadOnlyDictionary<string, MxArray> tree, Func<MxArray, MxArray> fn) =>
        tree.ToDictionary(kv => kv.Key, kv => fn(kv.Value), StringComparer.Ordinal);

    public static Dictionary<string, MxArray> Map(IReadOnlyDictionary<string, MxArray> a, IReadOnlyDictionary<string, MxArray> b, Func<MxArray, MxArray, MxArray> fn) =>
        a.ToDictionary(kv => kv.Key, kv => fn(kv.Value, b[kv.Key]), StringComparer.Ordinal);
}

public static partial class Nn
{
    /// <summary>
    /// value_and_grad over a model's trainable parameters, as mlx.nn.value_and_grad: the returned function calls
    /// <paramref name="lossFn"/> (which uses the model) and gives the loss and the gradients by parameter name.
    /// </summary>
    public static Func<MxArray[], (MxArray Loss, Dictionary<string, MxArray> Grads)> ValueAndGrad(Module model, Func<MxArray[], MxArray> lossFn)
    {
        return args =>
        {
            var trainable = model.TrainableParameters();
            var names = trainable.Keys.ToArray();
            var vg = Mx.ValueAndGrad(
                ps =>
                {
                    model.Update(names.Select((n, i) => (n, ps[i])).ToDictionary(t => t.n, t => t.Item2));
                    return new[] { lossFn(args) };
                },
                Enumerable.Range(0, names.Length).ToArray());
            try
            {
                var (values, grads) = vg(trainable.Values.ToArray());
                return (values[0], names.Select((n, i) => (n, grads[i])).ToDictionary(t => t.n, t => t.Item2, StringComparer.Ordinal));
            }
            finally
            {
                // The traced values must not stay in the model.
                model.Update(trainable);
            }
        };
    }
}
