using System.Reflection;

namespace Mlx.Core.Tests.Docs;

/// <summary>The API promise of the core issue: every op takes an optional last <c>StreamOrDevice? stream = null</c>.</summary>
public class ApiShapeTests
{
    [Fact]
    public void EveryOpTakesAnOptionalStreamLast()
    {
        var exempt = new HashSet<string> { "Eval", "AsyncEval", "Synchronize", "NewStream", "DefaultStream", "SetDefaultDevice", "Load", "LoadArray",
            "LoadSharded", "LoadModel", "Save", "Savez", "SavezCompressed", "SaveSafetensors", "SaveGguf", "Array", "AsArray", "FromBytes",
            "Grad", "ValueAndGrad", "TreeGrad", "TreeValueAndGrad", "Vjp", "Jvp", "Vmap", "Compile", "CustomFunction", "Checkpoint", "BroadcastShapes", "ResultType",
            "CanCast", "IsSubDType", "Key", "Seed", "Unary", "Binary",
            // C# params arrays must come last, so these two take no stream.
            "Einsum", "BroadcastArrays" };
        var missing = new List<string>();
        foreach (var type in new[] { typeof(Mx), typeof(Mx.Random) })
        {
            foreach (var m in type.GetMethods(BindingFlags.Public | BindingFlags.Static))
            {
                if (exempt.Contains(m.Name) || m.IsSpecialName) continue;
                if (m.ReturnType != typeof(MxArray) && m.ReturnType != typeof(MxArray[]) && !m.ReturnType.Name.StartsWith("ValueTuple")) continue;
                var last = m.GetParameters().LastOrDefault();
                if (last is null || last.ParameterType != typeof(StreamOrDevice?) || !last.HasDefaultValue)
                {
                    missing.Add($"{type.Name}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})");
                }
            }
        }
        Assert.True(missing.Count == 0, "ops without a stream parameter: " + string.Join("; ", missing.Distinct()));
    }
}
