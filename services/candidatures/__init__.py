"""The candidatures service: campaigns, partner offers, candidatures, instruction, attribution, renewal."""
