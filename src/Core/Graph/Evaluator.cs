namespace Mlx;

/// <summary>Orders the graph behind some arrays and runs each pending node once.</summary>
internal static class Evaluator
{
    private static readonly object s_lock = new();

    /// <summary>Held while a graph runs; GPU transfers outside an evaluation take it too (the device is used from one thread at a time).</summary>
    internal static object Lock => s_lock;

    public static void Eval(IEnumerable<MxArray> roots)
    {
        lock (s_lock)
        {
            // Scratch arrays of kernels belong to no caller's dispose scope.
            using var suspension = DisposeScope.Suspend();
            var order = TopologicalOrder(roots);
            foreach (var node in order)
            {
                long start = Profile.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
                bool gpu = node.Device.Type == DeviceType.Gpu && GpuRuntime.IsSupported;
                if (gpu)
                {
                    node.Primitive.EvalGpu(node.Inputs, node.Outputs);
                }
                else
                {
                    node.Primitive.EvalCpu(node.Inputs, node.Outputs);
                }
                if (Profile.Enabled)
                {
                    if (gpu)
                    {
                        GpuRuntime.Synchronize();
                    }
                    string name = !gpu ? node.Primitive.Name : node.Primitive.HasGpuKernel ? $"{node.Primitive.Name} (gpu)" : $"{node.Primitive.Name} (host)";
                    Profile.Record(name, System.Diagnostics.Stopwatch.GetTimestamp() - start);
                }
                foreach (var output in node.Outputs)
                {
                    output.Detach();
                }
                // The node is done with its inputs: those that nobody else claims give their memory back now.
                foreach (var input in node.Inputs)
                {
                    input.Unclaim();
                }
                foreach (var output in node.Outputs)
                {
                    if (output.Unclaimed) output.ReleaseData();
                }
            }
        }
    }

    /// <summary>The pending nodes behind <paramref name="roots"/>, inputs before users (iterative: graphs can be deep).</summary>
    public static List<Node> TopologicalOrder(IEnumerable<MxArray> roots)
    {
        var order = new List<Node>();
        var visited = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Node Node, int Next)>();
        foreach (var root in roots)
        {
            if (root.PendingNode is not { } start || !visited.Add(start))
            {
                continue;
            }
            stack.Push((start, 0));
            while (stack.Count > 0)
            {
                var (node, next) = stack.Pop();
                if (next < node.Inputs.Length)
                {
                    stack.Push((node, next + 1));
                    if (node.Inputs[next].PendingNode is { } child && visited.Add(child))
                    {
                        stack.Push((child, 0));
                    }
                }
                else
                {
                    order.Add(node);
                }
            }
        }
        return order;
    }
}

/// <summary>Time per primitive, collected when MLX_PROFILE=1 and printed to stderr at exit.</summary>
internal static class Profile
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("MLX_PROFILE") == "1";
    private static readonly Dictionary<string, (long Ticks, long Count)> s_times = new();

    static Profile()
    {
        if (Enabled)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                foreach (var (name, (ticks, count)) in s_times.OrderByDescending(kv => kv.Value.Ticks))
                {
                    Console.Error.WriteLine($"{name,-28} {ticks * 1000.0 / System.Diagnostics.Stopwatch.Frequency,10:F1} ms {count,8} calls");
                }
            };
        }
    }

    public static void Record(string name, long ticks)
    {
        var (t, c) = s_times.GetValueOrDefault(name);
        s_times[name] = (t + ticks, c + 1);
    }
}
